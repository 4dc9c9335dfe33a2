package lb

import (
	"net"
	"net/http"
	"time"
)

// Backends names a backend after each address.
func Backends(addrs ...string) []Backend {
	out := make([]Backend, len(addrs))
	for i, a := range addrs {
		out[i] = Backend{Name: a, Addr: a}
	}
	return out
}

// ServeLoopback serves b on a free loopback port until stop is called;
// stop returns once the server is closed, its goroutine has exited and the
// idle connections to the backends are dropped.
func (b *Balancer) ServeLoopback() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return ln.Addr().String(), func() {
		srv.Close()
		<-done
		b.Close()
	}, nil
}
