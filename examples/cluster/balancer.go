package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// stickyCookie pins a client to a node when the balancer is sticky.
const stickyCookie = "sessring_lb"

// maxBody bounds the request bodies the balancer buffers to retry them on
// another node (the demo's forms are a few bytes).
const maxBody = 1 << 20

var errAllDown = errors.New("no node accepted the connection")

// backend is one node's HTTP server.
type backend struct {
	name string
	host string // host:port
}

// balancer is a round-robin reverse proxy over the nodes. When a node
// refuses the connection (it crashed), the request goes to the next one:
// the connection never reached the dead node, so trying elsewhere cannot
// run a request twice. Errors after the connection was made (a node dying
// mid-request) are not retried and answer 502, as a real balancer would
// for a non-idempotent request.
type balancer struct {
	backends []backend
	sticky   bool
	next     atomic.Uint64
	proxy    *httputil.ReverseProxy
}

func newBalancer(backends []backend, sticky bool, onAllDown http.HandlerFunc) *balancer {
	b := &balancer{backends: backends, sticky: sticky}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetXForwarded()
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "balancer.invalid" // replaced by the transport
		},
		Transport:      &failover{b: b, base: newTransport()},
		ModifyResponse: b.pin,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errAllDown) {
				onAllDown(w, r)
				return
			}
			http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
		},
	}
	return b
}

func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.proxy.ServeHTTP(w, r)
}

// order is the sequence of nodes to try for r: the pinned node first when
// sticky, then round-robin.
func (b *balancer) order(r *http.Request) []backend {
	n := len(b.backends)
	start := int(b.next.Add(1)-1) % n
	order := make([]backend, 0, n)
	if b.sticky {
		if c, err := r.Cookie(stickyCookie); err == nil {
			for _, be := range b.backends {
				if be.name == c.Value {
					order = append(order, be)
				}
			}
		}
	}
	for i := range n {
		be := b.backends[(start+i)%n]
		if len(order) == 0 || be != order[0] {
			order = append(order, be)
		}
	}
	return order
}

// pin sets the sticky cookie to the node that answered, when it changed.
func (b *balancer) pin(resp *http.Response) error {
	if !b.sticky {
		return nil
	}
	name := b.nameOf(resp.Request.URL.Host)
	if c, err := resp.Request.Cookie(stickyCookie); err == nil && c.Value == name {
		return nil
	}
	cookie := &http.Cookie{Name: stickyCookie, Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	resp.Header.Add("Set-Cookie", cookie.String())
	return nil
}

func (b *balancer) nameOf(host string) string {
	for _, be := range b.backends {
		if be.host == host {
			return be.name
		}
	}
	return ""
}

// failover sends a request to the balancer's nodes in order until one
// accepts the connection.
type failover struct {
	b    *balancer
	base http.RoundTripper
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, be := range f.b.order(req) {
		out := req.Clone(req.Context())
		out.URL = cloneURL(req.URL, be.host)
		out.Host = ""
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		resp, err := f.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		if !refused(err) {
			return nil, fmt.Errorf("%s: %w", be.name, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", be.name, err))
	}
	return nil, fmt.Errorf("%w: %w", errAllDown, errors.Join(errs...))
}

// readBody buffers the request body so it can be sent again; nil when the
// request has none.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("request body over %d bytes", maxBody)
	}
	return body, nil
}

func cloneURL(u *url.URL, host string) *url.URL {
	c := *u
	c.Host = host
	return &c
}

// refused reports whether err happened while connecting, before anything
// was sent.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
