// Command gobwas is the benchmark peer built on github.com/gobwas/ws on a
// raw listener (no net/http): the upgrade reads the request straight from
// the connection and nothing but the connection is held after it. Echo
// reads through a per-connection bufio.Reader and writes header and payload
// in one write; push compiles the frame once per broadcast (ws.CompileFrame)
// and writes it to every connection from the broadcasting goroutine.
package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"sync"

	"github.com/gobwas/ws"

	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

type hub struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (h *hub) broadcast(p []byte) {
	frame, err := ws.CompileFrame(ws.NewTextFrame(p))
	if err != nil {
		return
	}
	h.mu.Lock()
	for c := range h.conns {
		if _, err := c.Write(frame); err != nil {
			c.Close()
		}
	}
	h.mu.Unlock()
}

func (h *hub) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go h.handle(c)
	}
}

func (h *hub) handle(c net.Conn) {
	defer c.Close()
	var path string
	u := ws.Upgrader{OnRequest: func(uri []byte) error { path = string(uri); return nil }}
	if _, err := u.Upgrade(c); err != nil {
		return
	}
	if path == "/push" {
		h.mu.Lock()
		h.conns[c] = struct{}{}
		h.mu.Unlock()
		pushRead(c)
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		return
	}
	echo(c)
}

// pushRead reads and discards client frames until the connection ends.
func pushRead(c net.Conn) {
	for {
		hd, err := ws.ReadHeader(c)
		if err != nil || hd.OpCode == ws.OpClose {
			return
		}
		if _, err := io.CopyN(io.Discard, c, hd.Length); err != nil {
			return
		}
	}
}

func echo(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	out := make([]byte, 0, 4096+ws.MaxHeaderSize)
	for {
		hd, err := ws.ReadHeader(br)
		if err != nil || hd.Length > 16<<20 {
			return
		}
		if cap(out) < int(hd.Length)+ws.MaxHeaderSize {
			out = make([]byte, 0, int(hd.Length)+ws.MaxHeaderSize)
		}
		payload := out[ws.MaxHeaderSize : ws.MaxHeaderSize+int(hd.Length)]
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		if hd.Masked {
			ws.Cipher(payload, hd.Mask, 0)
		}
		switch hd.OpCode {
		case ws.OpClose:
			_, _ = c.Write(ws.CompiledClose)
			return
		case ws.OpPing:
			hd.OpCode = ws.OpPong
		case ws.OpPong:
			continue
		}
		// Write header and payload in one write: the header goes right
		// before the payload in the same array.
		hd.Masked = false
		n := ws.HeaderSize(hd)
		hb := out[ws.MaxHeaderSize-n : ws.MaxHeaderSize]
		w := fixedWriter{b: hb[:0]}
		if err := ws.WriteHeader(&w, hd); err != nil {
			return
		}
		if _, err := c.Write(out[ws.MaxHeaderSize-n : ws.MaxHeaderSize+int(hd.Length)]); err != nil {
			return
		}
	}
}

// fixedWriter appends into a slice whose capacity is the header's size.
type fixedWriter struct{ b []byte }

func (w *fixedWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func main() {
	h := &hub{conns: make(map[net.Conn]struct{})}
	os.Exit(peer.Main("gobwas", h.serve, h.broadcast))
}
