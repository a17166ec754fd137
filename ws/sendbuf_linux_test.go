package ws

import (
	"net"
	"syscall"
	"testing"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// SendBuffer sets the kernel send buffer of each connection.
func TestSendBuffer(t *testing.T) {
	got := make(chan int, 1)
	_, url := startServer(t, &Options{
		SendBuffer: 16 << 10,
		OnOpen: func(c *Conn) {
			tc, ok := c.nc.(*net.TCPConn)
			if !ok {
				got <- -1
				return
			}
			rc, _ := tc.SyscallConn()
			rc.Control(func(fd uintptr) {
				n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
				if err != nil {
					n = -1
				}
				got <- n
			})
		},
	})
	c, _, err := wstest.Dial(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.NetConn().Close()
	// Linux reports twice what was set.
	if n := <-got; n != 32<<10 {
		t.Errorf("SO_SNDBUF %d, want %d", n, 32<<10)
	}
}
