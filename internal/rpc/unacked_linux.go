package rpc

import (
	"golang.org/x/sys/unix"
	"net"
	"time"
)

// setUnackedTimeout sets TCP_USER_TIMEOUT on a TCP connection (see
// Config.UnackedTimeout); other connections are left alone. Failure only
// loses the faster recovery, so it is not an error.
func setUnackedTimeout(nc net.Conn, d time.Duration) {
	tc, ok := nc.(*net.TCPConn)
	if !ok || d <= 0 {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
}
