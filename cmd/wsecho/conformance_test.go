package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// startEcho serves wsecho (its real handler and limits, as the command
// sets them up) on a port of 127.0.0.1 chosen at run time, and stops it
// when the test ends.
func startEcho(t *testing.T, mod func(*config)) string {
	t.Helper()
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.rate = 0
	if mod != nil {
		mod(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

var key = [4]byte{0x12, 0x34, 0x56, 0x78}

// fr is a masked client frame.
func fr(fin bool, op wstest.Opcode, payload string) []byte {
	return wstest.Frame(fin, op, []byte(payload), true, key)
}

func text(p string) []byte { return fr(true, wstest.OpText, p) }
func bin(p string) []byte  { return fr(true, wstest.OpBinary, p) }
func ping(p string) []byte { return fr(true, wstest.OpPing, p) }
func pong(p string) []byte { return fr(true, wstest.OpPong, p) }
func cont(fin bool, p string) []byte {
	return fr(fin, wstest.OpContinuation, p)
}

// rsv sets RSV bits (1–7) in a frame's first byte.
func rsv(bits byte, b []byte) []byte {
	b = bytes.Clone(b)
	b[0] |= bits << 4
	return b
}

// op rewrites a frame's opcode.
func op(code byte, b []byte) []byte {
	b = bytes.Clone(b)
	b[0] = b[0]&0xF0 | code
	return b
}

// closeP is a close payload.
func closeP(code uint16, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, code)) + reason
}

func closeF(code uint16, reason string) []byte { return fr(true, wstest.OpClose, closeP(code, reason)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// msg is an expected echo.
type msg struct {
	op wstest.Opcode
	p  string
}

func t_(p string) msg { return msg{wstest.OpText, p} }
func b_(p string) msg { return msg{wstest.OpBinary, p} }

// Closes the server must send: a status code, or an empty close frame.
const emptyClose = 0

// confCase is one row of the conformance table. in is exactly what the
// client writes (as one write, in small chunks or frame by frame); the
// client then reads until the server's close frame and TCP close.
type confCase struct {
	id    string // the Autobahn|Testsuite case it is modelled on
	name  string
	in    [][]byte
	echo  []msg    // data messages echoed, in order
	pongs []string // pong payloads; only the last one is required (RFC 6455 §5.5.3)
	close int      // the close code the server must send (emptyClose: an empty close frame)
	// note records where RFC 6455 would also let the server drop TCP without
	// a close frame (§7.1.7 "Fail the WebSocket Connection"); this server
	// always sends the code, and the test asserts it.
	note string
}

const failNote = "RFC 6455 §7.1.7 allows dropping TCP; we send the code"

var (
	kosme    = "κόσμε"
	longText = strings.Repeat("*", 65536)
	b64k     = strings.Repeat("\xfe", 65536)
	mib      = strings.Repeat("x", 1<<20)
	mibBin   = strings.Repeat("\x00\xff", 1<<19)
)

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// fragmented sends s as a text (or binary) message in frames of n bytes.
func fragmented(o wstest.Opcode, s string, n int) [][]byte {
	cs := chunks(s, n)
	out := make([][]byte, len(cs))
	for i, c := range cs {
		fo := wstest.OpContinuation
		if i == 0 {
			fo = o
		}
		out[i] = fr(i == len(cs)-1, fo, c)
	}
	return out
}

func bye() []byte { return closeF(1000, "bye") }

func confCases() []confCase {
	cs := []confCase{
		// 1: framing.
		{id: "1.1.1", name: "text 0", in: [][]byte{text(""), bye()}, echo: []msg{t_("")}, close: 1000},
		{id: "1.1.2", name: "text 125", in: [][]byte{text(strings.Repeat("*", 125)), bye()}, echo: []msg{t_(strings.Repeat("*", 125))}, close: 1000},
		{id: "1.1.3", name: "text 126", in: [][]byte{text(strings.Repeat("*", 126)), bye()}, echo: []msg{t_(strings.Repeat("*", 126))}, close: 1000},
		{id: "1.1.4", name: "text 127", in: [][]byte{text(strings.Repeat("*", 127)), bye()}, echo: []msg{t_(strings.Repeat("*", 127))}, close: 1000},
		{id: "1.1.5", name: "text 128", in: [][]byte{text(strings.Repeat("*", 128)), bye()}, echo: []msg{t_(strings.Repeat("*", 128))}, close: 1000},
		{id: "1.1.6", name: "text 65535", in: [][]byte{text(longText[:65535]), bye()}, echo: []msg{t_(longText[:65535])}, close: 1000},
		{id: "1.1.7", name: "text 65536", in: [][]byte{text(longText), bye()}, echo: []msg{t_(longText)}, close: 1000},
		{id: "1.2.1", name: "binary 0", in: [][]byte{bin(""), bye()}, echo: []msg{b_("")}, close: 1000},
		{id: "1.2.2", name: "binary 125", in: [][]byte{bin(b64k[:125]), bye()}, echo: []msg{b_(b64k[:125])}, close: 1000},
		{id: "1.2.3", name: "binary 126", in: [][]byte{bin(b64k[:126]), bye()}, echo: []msg{b_(b64k[:126])}, close: 1000},
		{id: "1.2.6", name: "binary 65535", in: [][]byte{bin(b64k[:65535]), bye()}, echo: []msg{b_(b64k[:65535])}, close: 1000},
		{id: "1.2.7", name: "binary 65536", in: [][]byte{bin(b64k), bye()}, echo: []msg{b_(b64k)}, close: 1000},
		{id: "1.x", name: "16-bit length not minimal", in: [][]byte{{0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4}}, close: 1002, note: failNote},
		{id: "1.x", name: "64-bit length not minimal", in: [][]byte{{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4}}, close: 1002, note: failNote},
		{id: "1.x", name: "64-bit length with top bit", in: [][]byte{{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}}, close: 1002, note: failNote},
		{id: "1.x", name: "unmasked client frame", in: [][]byte{wstest.Frame(true, wstest.OpText, []byte("hi"), false, key)}, close: 1002, note: failNote},

		// 2: ping and pong.
		{id: "2.1", name: "ping empty", in: [][]byte{ping(""), bye()}, pongs: []string{""}, close: 1000},
		{id: "2.2", name: "ping text payload", in: [][]byte{ping("Hello, world!"), bye()}, pongs: []string{"Hello, world!"}, close: 1000},
		{id: "2.3", name: "ping binary payload", in: [][]byte{ping("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), bye()}, pongs: []string{"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"}, close: 1000},
		{id: "2.4", name: "ping 125", in: [][]byte{ping(b64k[:125]), bye()}, pongs: []string{b64k[:125]}, close: 1000},
		{id: "2.5", name: "ping 126", in: [][]byte{ping(b64k[:126]), bye()}, close: 1002, note: failNote},
		{id: "2.6", name: "ping 125 in 1-byte writes", in: append(splitBytes(ping(b64k[:125])), bye()), pongs: []string{b64k[:125]}, close: 1000},
		{id: "2.7", name: "unsolicited pong", in: [][]byte{pong(""), bye()}, close: 1000},
		{id: "2.8", name: "unsolicited pong with payload", in: [][]byte{pong("unsolicited"), bye()}, close: 1000},
		{id: "2.9", name: "unsolicited pong, then ping", in: [][]byte{pong("unsolicited"), ping("solicited"), bye()}, pongs: []string{"solicited"}, close: 1000},
		{id: "2.10", name: "10 pings", in: append(tenPings(), bye()), pongs: tenPayloads(), close: 1000},

		// 3: reserved bits.
		{id: "3.1", name: "RSV1 on text", in: [][]byte{rsv(1, text("Hello"))}, close: 1002, note: failNote},
		{id: "3.2", name: "text, RSV2 text, ping", in: [][]byte{text("Hello"), rsv(2, text("Hello")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},
		{id: "3.3", name: "text, RSV3 text, ping", in: [][]byte{text("Hello"), rsv(3, text("Hello")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},
		{id: "3.4", name: "RSV4 text", in: [][]byte{rsv(4, text("Hello"))}, close: 1002, note: failNote},
		{id: "3.5", name: "RSV5 binary", in: [][]byte{rsv(5, bin("\x00\xff"))}, close: 1002, note: failNote},
		{id: "3.6", name: "RSV6 ping", in: [][]byte{rsv(6, ping("Hello"))}, close: 1002, note: failNote},
		{id: "3.7", name: "RSV7 close", in: [][]byte{rsv(7, closeF(1000, ""))}, close: 1002, note: failNote},

		// 4: opcodes.
		{id: "4.1.1", name: "opcode 3", in: [][]byte{op(3, text(""))}, close: 1002, note: failNote},
		{id: "4.1.2", name: "opcode 4 with payload", in: [][]byte{op(4, text("reserved"))}, close: 1002, note: failNote},
		{id: "4.1.3", name: "text, opcode 5, ping", in: [][]byte{text("Hello"), op(5, text("")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},
		{id: "4.1.4", name: "text, opcode 6 with payload, ping", in: [][]byte{text("Hello"), op(6, text("reserved")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},
		{id: "4.1.5", name: "text, opcode 7, ping", in: [][]byte{text("Hello"), op(7, text("reserved")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},
		{id: "4.2.1", name: "opcode 11", in: [][]byte{op(11, text(""))}, close: 1002, note: failNote},
		{id: "4.2.2", name: "opcode 12 with payload", in: [][]byte{op(12, text("reserved"))}, close: 1002, note: failNote},
		{id: "4.2.3", name: "text, opcode 13, ping", in: [][]byte{text("Hello"), op(13, text("")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},
		{id: "4.2.5", name: "text, opcode 15, ping", in: [][]byte{text("Hello"), op(15, text("reserved")), ping("")}, echo: []msg{t_("Hello")}, close: 1002, note: failNote},

		// 5: fragmentation.
		{id: "5.1", name: "fragmented ping", in: [][]byte{fr(false, wstest.OpPing, "frag1"), cont(true, "frag2")}, close: 1002, note: failNote},
		{id: "5.2", name: "fragmented pong", in: [][]byte{fr(false, wstest.OpPong, "frag1"), cont(true, "frag2")}, close: 1002, note: failNote},
		{id: "5.3", name: "text in 2 fragments", in: [][]byte{fr(false, wstest.OpText, "frag1"), cont(true, "frag2"), bye()}, echo: []msg{t_("frag1frag2")}, close: 1000},
		{id: "5.6", name: "fragments with ping between", in: [][]byte{fr(false, wstest.OpText, "frag1"), ping("pongme!"), cont(true, "frag2"), bye()}, echo: []msg{t_("frag1frag2")}, pongs: []string{"pongme!"}, close: 1000},
		{id: "5.6b", name: "binary fragments with ping between", in: [][]byte{fr(false, wstest.OpBinary, "\x00"), ping("p"), cont(false, "\xff"), cont(true, "\xfe"), bye()}, echo: []msg{b_("\x00\xff\xfe")}, pongs: []string{"p"}, close: 1000},
		{id: "5.9", name: "continuation without start, fin", in: [][]byte{cont(true, "non-continuation payload"), text("Hello, world!")}, close: 1002, note: failNote},
		{id: "5.10", name: "continuation without start, not fin", in: [][]byte{cont(false, "non-continuation payload"), text("Hello, world!")}, close: 1002, note: failNote},
		{id: "5.15", name: "text in fragmented text", in: [][]byte{fr(false, wstest.OpText, "fragment1"), cont(true, "fragment2"), cont(false, "fragment3"), cont(true, "fragment4")}, echo: []msg{t_("fragment1fragment2")}, close: 1002, note: failNote},
		{id: "5.18", name: "two text frames with fin=0", in: [][]byte{fr(false, wstest.OpText, "fragment1"), fr(false, wstest.OpText, "fragment2")}, close: 1002, note: failNote},
		{id: "5.19", name: "fragments with pings between, pauses", in: [][]byte{fr(false, wstest.OpText, "f1"), cont(false, "f2"), ping("pongme 1!"), cont(false, "f3"), cont(false, "f4"), ping("pongme 2!"), cont(true, "f5"), bye()}, echo: []msg{t_("f1f2f3f4f5")}, pongs: []string{"pongme 1!", "pongme 2!"}, close: 1000},
		{id: "5.x", name: "binary inside fragmented text", in: [][]byte{fr(false, wstest.OpText, "a"), bin("b")}, close: 1002, note: failNote},

		// 6: UTF-8.
		{id: "6.1.1", name: "empty text", in: [][]byte{text(""), bye()}, echo: []msg{t_("")}, close: 1000},
		{id: "6.1.3", name: "empty fragments", in: [][]byte{fr(false, wstest.OpText, ""), cont(false, ""), cont(true, ""), bye()}, echo: []msg{t_("")}, close: 1000},
		{id: "6.2.1", name: "valid UTF-8", in: [][]byte{text("Hello-µ@ßöäüàá-UTF-8!!"), bye()}, echo: []msg{t_("Hello-µ@ßöäüàá-UTF-8!!")}, close: 1000},
		{id: "6.5.1", name: "κόσμε", in: [][]byte{text(kosme), bye()}, echo: []msg{t_(kosme)}, close: 1000},
		{id: "6.3.1", name: "invalid UTF-8 in one frame", in: [][]byte{text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")}, close: 1007, note: failNote},
		{id: "6.4.1", name: "fail fast: invalid second fragment, third never sent", in: [][]byte{fr(false, wstest.OpText, kosme), cont(false, "\xf4\x90\x80\x80")}, close: 1007, note: failNote},
		{id: "6.4.2", name: "fail fast: code point split, invalid in second fragment", in: [][]byte{fr(false, wstest.OpText, kosme+"\xf4"), cont(false, "\x90")}, close: 1007, note: failNote},
		{id: "6.4.3", name: "fail fast mid-frame: rest of frame never sent", in: [][]byte{midFrame(kosme+"\xf4\x90\x80\x80"+kosme, len(kosme)+4)}, close: 1007, note: failNote},
		{id: "6.4.4", name: "fail fast mid-frame: second byte of a code point", in: [][]byte{midFrame(kosme+"\xf4\x90"+strings.Repeat("x", 50), len(kosme)+2)}, close: 1007, note: failNote},
		{id: "6.6.x", name: "truncated sequence at message end", in: [][]byte{text("a\xe2\x82")}, close: 1007, note: failNote},
		{id: "6.7.4", name: "highest code point", in: [][]byte{text("\xf4\x8f\xbf\xbf"), bye()}, echo: []msg{t_("\xf4\x8f\xbf\xbf")}, close: 1000},
		{id: "6.8.1", name: "5-byte sequence", in: [][]byte{text("\xf8\x88\x80\x80\x80")}, close: 1007, note: failNote},
		{id: "6.18.1", name: "surrogate", in: [][]byte{text("\xed\xa0\x80")}, close: 1007, note: failNote},
		{id: "6.10.3", name: "overlong slash", in: [][]byte{text("\xe0\x80\xaf")}, close: 1007, note: failNote},
		{id: "6.11.1", name: "noncharacter U+FFFE is valid", in: [][]byte{text("\xef\xbf\xbe"), bye()}, echo: []msg{t_("\xef\xbf\xbe")}, close: 1000},

		// 7: close handling.
		{id: "7.1.1", name: "text then close", in: [][]byte{text("Hello World!"), bye()}, echo: []msg{t_("Hello World!")}, close: 1000},
		{id: "7.1.2", name: "close twice", in: [][]byte{bye(), bye()}, close: 1000},
		{id: "7.1.3", name: "ping after close", in: [][]byte{bye(), ping("")}, close: 1000},
		{id: "7.1.4", name: "text after close", in: [][]byte{bye(), text("Hello World!")}, close: 1000},
		{id: "7.1.5", name: "fragment, close, rest", in: [][]byte{fr(false, wstest.OpText, "frag1"), bye(), cont(true, "frag2")}, close: 1000},
		{id: "7.1.6", name: "large text, close, ping", in: [][]byte{text(mib[:256<<10]), bye(), ping("")}, echo: []msg{t_(mib[:256<<10])}, close: 1000},
		{id: "7.3.1", name: "empty close", in: [][]byte{fr(true, wstest.OpClose, "")}, close: emptyClose},
		{id: "7.3.2", name: "close with 1 byte", in: [][]byte{fr(true, wstest.OpClose, "a")}, close: 1002, note: failNote},
		{id: "7.3.3", name: "close code only", in: [][]byte{closeF(1000, "")}, close: 1000},
		{id: "7.3.4", name: "close with reason", in: [][]byte{closeF(1000, "Hello World!")}, close: 1000},
		{id: "7.3.5", name: "close with 123-byte reason", in: [][]byte{closeF(1000, strings.Repeat("*", 123))}, close: 1000},
		{id: "7.3.6", name: "close with 124-byte reason", in: [][]byte{closeF(1000, strings.Repeat("*", 124))}, close: 1002, note: failNote},
		{id: "7.5.1", name: "close reason invalid UTF-8", in: [][]byte{closeF(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")}, close: 1007, note: failNote},
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cs = append(cs, confCase{id: "7.7", name: fmt.Sprintf("valid close code %d echoed", code), in: [][]byte{closeF(code, "")}, close: int(code)})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cs = append(cs, confCase{id: "7.9", name: fmt.Sprintf("invalid close code %d", code), in: [][]byte{closeF(code, "")}, close: 1002, note: failNote})
	}
	cs = append(cs,
		// 9: limits, up to 1 MiB.
		confCase{id: "9.1.1", name: "text 64 KiB", in: [][]byte{text(mib[:64<<10]), bye()}, echo: []msg{t_(mib[:64<<10])}, close: 1000},
		confCase{id: "9.1.3", name: "text 1 MiB", in: [][]byte{text(mib), bye()}, echo: []msg{t_(mib)}, close: 1000},
		confCase{id: "9.2.3", name: "binary 1 MiB", in: [][]byte{bin(mibBin), bye()}, echo: []msg{b_(mibBin)}, close: 1000},
		confCase{id: "9.3.1", name: "text 1 MiB in 64-byte fragments", in: append(fragmented(wstest.OpText, mib, 64), bye()), echo: []msg{t_(mib)}, close: 1000},
		confCase{id: "9.4.5", name: "binary 1 MiB in 64 KiB fragments", in: append(fragmented(wstest.OpBinary, mibBin, 64<<10), bye()), echo: []msg{b_(mibBin)}, close: 1000},
		confCase{id: "9.x", name: "message over the read limit", in: [][]byte{{0x82, 0x80 | 127, 0, 0, 0, 0, 1, 0, 0, 1, 1, 2, 3, 4}}, close: 1009, note: "RFC 6455 §7.4.1: 1009; the payload is never sent"},
		confCase{id: "9.x", name: "fragments over the read limit", in: [][]byte{fr(false, wstest.OpBinary, mibBin), {0x80, 0x80 | 127, 0, 0, 0, 0, 0, 0xF0, 0, 1, 1, 2, 3, 4}}, close: 1009, note: "RFC 6455 §7.4.1: 1009"},
		// 10: a message whose frames the client chose to fragment.
		confCase{id: "10.1.1", name: "65536 text in 1300-byte fragments", in: append(fragmented(wstest.OpText, longText, 1300), bye()), echo: []msg{t_(longText)}, close: 1000},
	)
	return cs
}

// midFrame is a text frame for payload cut off after n payload bytes: the
// rest is never sent.
func midFrame(payload string, n int) []byte {
	f := text(payload)
	return f[:len(f)-len(payload)+n]
}

func splitBytes(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func tenPayloads() []string {
	var p []string
	for i := range 10 {
		p = append(p, fmt.Sprintf("payload-%d", i))
	}
	return p
}

func tenPings() [][]byte {
	var out [][]byte
	for _, p := range tenPayloads() {
		out = append(out, ping(p))
	}
	return out
}

// writeModes are the ways the client writes a case's bytes.
var writeModes = []string{"coalesced", "frames", "chunks"}

// pieces returns the writes for mode: everything in one write, one write
// per frame, or the whole stream cut into small uneven chunks (larger ones
// for long inputs, to keep the suite fast).
func pieces(in [][]byte, mode string) [][]byte {
	all := cat(in...)
	switch mode {
	case "coalesced":
		return [][]byte{all}
	case "frames":
		return in
	}
	sizes := []int{1, 2, 3, 5, 7, 11, 13}
	if len(all) > 4096 {
		sizes = []int{1, 3, 4093, 65537, 7}
	}
	var out [][]byte
	for i := 0; len(all) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(all))
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}

func TestConformance(t *testing.T) {
	addr := startEcho(t, nil)
	for _, mode := range writeModes {
		t.Run(mode, func(t *testing.T) {
			for _, c := range confCases() {
				t.Run(c.id+" "+c.name, func(t *testing.T) {
					runCase(t, addr, c, mode)
				})
			}
		})
	}
}

func runCase(t *testing.T, addr string, c confCase, mode string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	wc, resp, err := wstest.Handshake(context.Background(), nc, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		for _, p := range pieces(c.in, mode) {
			if _, err := nc.Write(p); err != nil {
				return // the server may close first; what it sent is checked below
			}
		}
	}()
	defer func() { <-written }()

	var echoes []msg
	var pongs []string
	for {
		op, p, err := wc.ReadMessage()
		if err != nil {
			t.Fatalf("read before the server's close frame: %v (echoes %d, pongs %q)", err, len(echoes), pongs)
		}
		if op == wstest.OpClose {
			break
		}
		switch op {
		case wstest.OpText, wstest.OpBinary:
			echoes = append(echoes, msg{op, string(p)})
		case wstest.OpPong:
			pongs = append(pongs, string(p))
		case wstest.OpPing: // the keepalive; answering is not needed within the case
		default:
			t.Fatalf("unexpected frame opcode %d", op)
		}
	}
	code, _, _ := wc.CloseCode()
	if int(code) != c.close {
		t.Errorf("close code %d, want %d (%s)", code, c.close, c.note)
	}
	// §7.1.1: the server closes TCP once the close handshake is done.
	if _, _, _, err := wc.ReadFrame(); err == nil {
		t.Error("frame after the close frame")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("server did not close TCP after the close frame")
	}
	if len(echoes) != len(c.echo) {
		t.Fatalf("%d messages echoed, want %d", len(echoes), len(c.echo))
	}
	for i := range echoes {
		if echoes[i] != c.echo[i] {
			t.Errorf("echo %d: opcode %d, %d bytes; want opcode %d, %d bytes", i, echoes[i].op, len(echoes[i].p), c.echo[i].op, len(c.echo[i].p))
		}
	}
	checkPongs(t, pongs, c.pongs)
}

// checkPongs requires the pongs to answer the pings in order, allowing
// the server to skip all but the most recent of pings that arrived
// together (RFC 6455 §5.5.3), and the last ping to be answered.
func checkPongs(t *testing.T, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("pongs %q, want none", got)
		}
		return
	}
	if len(got) == 0 || got[len(got)-1] != want[len(want)-1] {
		t.Errorf("pongs %q: the last ping %q is not answered last", got, want[len(want)-1])
		return
	}
	j := 0
	for _, g := range got {
		for j < len(want) && want[j] != g {
			j++
		}
		if j == len(want) {
			t.Errorf("pongs %q are not a subsequence of the pings %q", got, want)
			return
		}
		j++
	}
}
