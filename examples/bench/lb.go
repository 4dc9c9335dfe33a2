package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"time"
)

// balancer is the load balancer in front of the app servers: an
// httputil.ReverseProxy choosing backends round-robin. With sticky set it
// also pins each client to the backend that served its first request with a
// cookie (HAProxy's "cookie SERVERID insert"). A backend that refuses
// connections is marked down for a while and the request is sent to the
// next one (HAProxy's "option redispatch"), which is safe because nothing
// reached the dead backend.
type balancer struct {
	backends []string // host:port
	sticky   bool
	next     atomic.Uint64
	down     []atomic.Int64 // unix nanoseconds until which a backend is skipped
	tr       *http.Transport
}

const (
	lbCookie   = "lb"
	lbDownTime = 2 * time.Second
)

func newBalancer(backends []string, sticky bool, conns int) *balancer {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = conns
	tr.DialContext = (&net.Dialer{Timeout: time.Second}).DialContext
	return &balancer{backends: backends, sticky: sticky, down: make([]atomic.Int64, len(backends)), tr: tr}
}

// handler returns the proxy.
func (lb *balancer) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "backend" // replaced per attempt in RoundTrip
		},
		Transport:     lb,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "lb: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// RoundTrip sends the request to the chosen backend, redispatching on a
// refused connection, and pins a sticky client to the backend that answered.
func (lb *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	pinned := lb.pinned(r)
	var err error
	for attempt := range len(lb.backends) {
		i := lb.choose(pinned, attempt)
		out := r.Clone(r.Context())
		out.URL.Host = lb.backends[i]
		var resp *http.Response
		resp, err = lb.tr.RoundTrip(out)
		if err == nil {
			if lb.sticky && i != pinned {
				resp.Header.Add("Set-Cookie", (&http.Cookie{Name: lbCookie, Value: strconv.Itoa(i), Path: "/"}).String())
			}
			return resp, nil
		}
		if !isDialError(err) {
			return nil, err
		}
		lb.down[i].Store(time.Now().Add(lbDownTime).UnixNano())
	}
	return nil, err
}

// pinned is the backend named by a sticky client's cookie, or -1.
func (lb *balancer) pinned(r *http.Request) int {
	if !lb.sticky {
		return -1
	}
	c, err := r.Cookie(lbCookie)
	if err != nil {
		return -1
	}
	i, err := strconv.Atoi(c.Value)
	if err != nil || i < 0 || i >= len(lb.backends) {
		return -1
	}
	return i
}

// choose returns the pinned backend while it is up, else the next up
// backend in round-robin order (any backend if all are marked down).
func (lb *balancer) choose(pinned, attempt int) int {
	now := time.Now().UnixNano()
	if pinned >= 0 && attempt == 0 && lb.down[pinned].Load() < now {
		return pinned
	}
	for range lb.backends {
		i := int(lb.next.Add(1) % uint64(len(lb.backends)))
		if lb.down[i].Load() < now {
			return i
		}
	}
	return int(lb.next.Add(1) % uint64(len(lb.backends)))
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// serve starts the balancer on a free loopback port.
func (lb *balancer) serve() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: lb.handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return ln.Addr().String(), func() {
		srv.Close()
		<-done
		lb.tr.CloseIdleConnections()
	}, nil
}
