package bridge

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// publishBytes is a PUBLISH packet of topic and payload, encoded.
func publishBytes(t *testing.T, topic string, payload []byte) []byte {
	t.Helper()
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Payload, p.Retain = topic, payload, true
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// giantHeader is the start of a PUBLISH of size bytes (remaining length)
// on topic: its fixed header, the topic and a few payload bytes.
func giantHeader(topic string, size int) []byte {
	b := []byte{0x31}
	for {
		d := byte(size % 128)
		size /= 128
		if size > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if size == 0 {
			break
		}
	}
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	return append(b, "xxxxxxxx"...)
}

// TestLimitConn: packets up to the limit pass intact, in whatever pieces
// the network delivers them; one over it fails the read before the
// reader learns its length, closes the connection and is reported once,
// with its topic.
func TestLimitConn(t *testing.T) {
	small := publishBytes(t, "homeassistant/status", []byte("online"))
	atLimit := publishBytes(t, "a", bytes.Repeat([]byte("x"), MinMaxPacketSize-3)) // remaining length = limit
	for _, chunk := range []int{1, 3, 1 << 20} {
		client, server := net.Pipe()
		var got []oversize
		lc := &limitConn{Conn: client, max: MinMaxPacketSize, refused: func(o oversize) { got = append(got, o) }}
		go func() {
			stream := append(append(append([]byte{}, small...), atLimit...), giantHeader("homeassistant/status", 50<<20)...)
			for len(stream) > 0 {
				n := min(chunk, len(stream))
				if _, err := server.Write(stream[:n]); err != nil {
					return
				}
				stream = stream[n:]
			}
			server.Close()
		}()
		for i, want := range [][]byte{small, atLimit} {
			p, err := packets.ReadPacket(lc)
			if err != nil {
				t.Fatalf("chunk %d: packet %d: %v", chunk, i, err)
			}
			var b bytes.Buffer
			p.Write(&b)
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("chunk %d: packet %d changed on the way", chunk, i)
			}
		}
		_, err := packets.ReadPacket(lc)
		if !errors.Is(err, ErrPacketTooBig) {
			t.Fatalf("chunk %d: giant packet: err %v, want ErrPacketTooBig", chunk, err)
		}
		if _, err := lc.Read(make([]byte, 10)); !errors.Is(err, ErrPacketTooBig) {
			t.Errorf("chunk %d: read after the refusal: %v", chunk, err)
		}
		if len(got) != 1 || got[0].kind != 3 || got[0].topic != "homeassistant/status" || got[0].size <= MinMaxPacketSize {
			t.Errorf("chunk %d: refused = %+v, want one PUBLISH on homeassistant/status", chunk, got)
		}
		if _, err := server.Write([]byte{0}); err == nil {
			t.Errorf("chunk %d: connection still open", chunk)
		}
	}
}

// TestLimitConnMalformedLength: a fifth length byte is refused too.
func TestLimitConnMalformedLength(t *testing.T) {
	client, server := net.Pipe()
	lc := &limitConn{Conn: client, max: MaxMaxPacketSize}
	go server.Write([]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01})
	if _, err := packets.ReadPacket(lc); !errors.Is(err, ErrPacketTooBig) {
		t.Errorf("err %v, want ErrPacketTooBig", err)
	}
	server.Close()
}

func TestMaxPacketSizeConfig(t *testing.T) {
	s, err := (&Config{Broker: "tcp://127.0.0.1:1883"}).check("pi")
	if err != nil || s.maxPacket != DefaultMaxPacketSize {
		t.Fatalf("default max_packet_size = %v, %v", s, err)
	}
	s, err = (&Config{Broker: "tcp://127.0.0.1:1883", MaxPacketSize: 1 << 20}).check("pi")
	if err != nil || s.maxPacket != 1<<20 {
		t.Fatalf("max_packet_size 1 MiB = %v, %v", s, err)
	}
	for _, bad := range []int{-1, 100, MinMaxPacketSize - 1, MaxMaxPacketSize + 1} {
		if _, err := (&Config{Broker: "tcp://127.0.0.1:1883", MaxPacketSize: bad}).check("pi"); err == nil || !strings.Contains(err.Error(), "max_packet_size") {
			t.Errorf("max_packet_size %d: err %v", bad, err)
		}
	}
}

func TestDefaultClientID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	a := write("a", "0123456789abcdef0123456789abcdef\n")
	b := write("b", "fedcba9876543210fedcba9876543210\n")
	bad := write("bad", "uninitialized\n")
	idA, err := defaultClientID([]string{a}, "")
	if err != nil {
		t.Fatal(err)
	}
	idA2, _ := defaultClientID([]string{filepath.Join(dir, "missing"), bad, a}, "")
	idB, _ := defaultClientID([]string{b}, "")
	if len(idA) != 23 || !strings.HasPrefix(idA, "sensorcast-") || idA != idA2 || idA == idB {
		t.Errorf("machine IDs a, a, b gave %q, %q, %q: want stable, 23 bytes, different per machine", idA, idA2, idB)
	}
	if strings.Contains(idA, "0123456789ab") {
		t.Errorf("client ID %q shows the machine ID", idA)
	}

	// No machine ID: a random ID, kept in the state directory.
	state := filepath.Join(dir, "state")
	r1, err := defaultClientID([]string{bad}, state)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := defaultClientID(nil, state)
	other, _ := defaultClientID(nil, filepath.Join(dir, "state2"))
	if len(r1) != 23 || r1 != r2 || r1 == other || r1 == idA {
		t.Errorf("fallback IDs %q, %q (same state) and %q (other state): want kept per install", r1, r2, other)
	}
	if fi, err := os.Stat(filepath.Join(state, clientIDFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client ID file: %v, %v; want mode 0600", fi, err)
	}
	// A symbolic link is not followed.
	evil := filepath.Join(dir, "evil")
	os.Mkdir(evil, 0o700)
	os.Symlink(write("target", "sensorcast-aaaaaaaaaaaa\n"), filepath.Join(evil, clientIDFile))
	if id, err := defaultClientID(nil, evil); err == nil {
		t.Errorf("client ID through a symbolic link: %q", id)
	}
	garbage := filepath.Join(dir, "garbage")
	os.Mkdir(garbage, 0o700)
	os.WriteFile(filepath.Join(garbage, clientIDFile), []byte("hello"), 0o600)
	if _, err := defaultClientID(nil, garbage); err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Errorf("damaged client ID file: err %v", err)
	}
}

func build0(device string, names ...string) error {
	var ss []Sensor
	for _, n := range names {
		ss = append(ss, Sensor{Name: n})
	}
	_, err := build(&Options{Config: Config{Broker: "tcp://127.0.0.1:1", ClientID: "x"}, Device: device, Sensors: ss}, osFS{})
	return err
}

func TestNames(t *testing.T) {
	// The rule itself is reading.CheckName's, tested there.
	if err := build0("pi", "living room", "kitchen", "living room"); err != nil {
		t.Errorf("distinct names: %v", err)
	}
	if err := build0("pi", "living room", "living_room"); err == nil || !strings.Contains(err.Error(), "same topics") {
		t.Errorf("names colliding in topics: err %v", err)
	}
	if err := build0("pi", "a/b"); err == nil || !strings.Contains(err.Error(), "sensor") {
		t.Errorf("sensor a/b: err %v", err)
	}
	if err := build0("pi/2", "sim"); err == nil || !strings.Contains(err.Error(), "device") {
		t.Errorf("device pi/2: err %v", err)
	}
}

func TestSecretFileModes(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o600, 0o400} {
		p := filepath.Join(dir, "pw"+mode.String())
		os.WriteFile(p, []byte("pw\n"), 0o600)
		os.Chmod(p, mode)
		_, err := (&Config{Broker: "tcp://127.0.0.1:1", Username: "u", PasswordFile: p}).check("pi")
		if open := mode&0o077 != 0; open != (err != nil) || open && !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("password_file mode %04o: err %v", mode, err)
		}
	}
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(key, []byte("not a key"), 0o644)
	_, err := (&Config{Broker: "ssl://127.0.0.1:1", CertFile: key, KeyFile: key}).check("pi")
	if err == nil || !strings.Contains(err.Error(), "key_file") || !strings.Contains(err.Error(), "group or others") {
		t.Errorf("key_file mode 0644: err %v", err)
	}
}

func TestStartWarnings(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	for _, tc := range []struct {
		cfg  Config
		want string // "" for no warning
	}{
		{Config{Broker: "tcp://127.0.0.1:1", Username: "u", PasswordFile: pw}, "clear text over tcp://"},
		{Config{Broker: "ws://127.0.0.1:1/mqtt", Username: "u", PasswordFile: pw}, "clear text over ws://"},
		{Config{Broker: "ssl://127.0.0.1:1", InsecureSkipVerify: true}, "insecure_skip_verify"},
		{Config{Broker: "ssl://127.0.0.1:1", Username: "u", PasswordFile: pw}, ""},
		{Config{Broker: "tcp://127.0.0.1:1"}, ""},
	} {
		var logs bytes.Buffer
		tc.cfg.ClientID = "x"
		_, err := build(&Options{Config: tc.cfg, Device: "pi", Logger: slog.New(slog.NewTextHandler(&logs, nil))}, osFS{})
		if err != nil {
			t.Fatal(err)
		}
		got := logs.String()
		if tc.want == "" && strings.Contains(got, "WARN") || tc.want != "" && !(strings.Contains(got, "WARN") && strings.Contains(got, tc.want)) {
			t.Errorf("%s: log %q, want a warning with %q", tc.cfg.Broker, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("password in the log: %q", got)
		}
	}
}

// TestStateFilesNoFollow: a symbolic link planted in the state directory
// is not followed by the queue or the list of retained topics.
func TestStateFilesNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o700)
	os.Symlink(target, filepath.Join(state, queueFile))
	if q, err := openQueue(state, 10, osFS{}, slog.New(slog.DiscardHandler)); err == nil {
		q.close()
		t.Errorf("queue opened through a symbolic link")
	}
	os.Remove(filepath.Join(state, queueFile))
	os.Symlink(target, filepath.Join(state, haTopicsFile+".tmp"))
	if err := writeNoFollow(filepath.Join(state, haTopicsFile+".tmp"), []byte("[]")); err == nil {
		t.Errorf("list of topics written through a symbolic link")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("target changed: %q", b)
	}
}
