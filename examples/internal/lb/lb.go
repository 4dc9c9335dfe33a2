package lb

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

// DefaultCookie names the sticky cookie unless Config.Cookie does.
const DefaultCookie = "sessring_lb"

// ErrAllDown is the proxy error when no backend accepted the connection.
var ErrAllDown = errors.New("lb: no backend accepted the connection")

// Backend is one app server.
type Backend struct {
	Name string // in the sticky cookie and in errors
	Addr string // host:port
}

// Config adjusts a Balancer. Zero fields take the defaults.
type Config struct {
	// Sticky pins each client to a backend with a cookie.
	Sticky bool
	// Cookie names the sticky cookie. Default DefaultCookie.
	Cookie string
	// Forwarded sets X-Forwarded-For, -Host and -Proto on proxied
	// requests. Off by default: an app that sees them treats the request as
	// proxied (sessring's middleware then marks its cookie Secure).
	Forwarded bool
	// DownFor is how long a backend that refused a connection is tried
	// last. Default 0: it keeps its turn, so a restarted backend is back at
	// once.
	DownFor time.Duration
	// ConnsPerBackend is how many idle connections are kept per backend.
	// Default 16.
	ConnsPerBackend int
	// DialTimeout bounds connecting to a backend. Default 2s.
	DialTimeout time.Duration
	// OnAllDown answers when no backend accepted the connection. Default:
	// 502 with the dial errors.
	OnAllDown http.HandlerFunc
}

// Balancer is a round-robin reverse proxy over the backends. It is an
// http.Handler; Close drops its idle connections.
type Balancer struct {
	backends []Backend
	cfg      Config
	next     atomic.Uint64
	down     []atomic.Int64 // unix nanoseconds until which a backend is tried last
	tr       *http.Transport
	proxy    *httputil.ReverseProxy
}

// New returns a balancer over backends (at least one).
func New(backends []Backend, cfg Config) (*Balancer, error) {
	if len(backends) == 0 {
		return nil, errors.New("lb: no backends")
	}
	if cfg.Cookie == "" {
		cfg.Cookie = DefaultCookie
	}
	if cfg.ConnsPerBackend == 0 {
		cfg.ConnsPerBackend = 16
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	b := &Balancer{backends: backends, cfg: cfg, down: make([]atomic.Int64, len(backends))}
	b.tr = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		MaxIdleConnsPerHost:   cfg.ConnsPerBackend,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			if cfg.Forwarded {
				r.SetXForwarded()
			}
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "backend.invalid" // replaced per attempt
		},
		Transport:      &failover{b: b},
		ModifyResponse: b.pin,
		FlushInterval:  -1,
		ErrorHandler:   b.fail,
	}
	return b, nil
}

// ServeHTTP proxies r to a backend.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.proxy.ServeHTTP(w, r) }

// Close drops the idle connections to the backends.
func (b *Balancer) Close() { b.tr.CloseIdleConnections() }

func (b *Balancer) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrAllDown) && b.cfg.OnAllDown != nil {
		b.cfg.OnAllDown(w, r)
		return
	}
	http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
}

// order is the sequence of backends to try for r: the pinned one first
// when sticky, then round-robin, backends marked down last.
func (b *Balancer) order(r *http.Request) []int {
	n := len(b.backends)
	start := int((b.next.Add(1) - 1) % uint64(n))
	now := time.Now().UnixNano()
	order := make([]int, 0, n)
	pinned := b.pinned(r)
	if pinned >= 0 && b.down[pinned].Load() < now {
		order = append(order, pinned)
	}
	var down []int
	for i := range n {
		k := (start + i) % n
		switch {
		case len(order) > 0 && k == order[0]:
		case b.down[k].Load() >= now:
			down = append(down, k)
		default:
			order = append(order, k)
		}
	}
	return append(order, down...)
}

// pinned is the backend named by a sticky client's cookie, or -1.
func (b *Balancer) pinned(r *http.Request) int {
	if !b.cfg.Sticky {
		return -1
	}
	c, err := r.Cookie(b.cfg.Cookie)
	if err != nil {
		return -1
	}
	for i, be := range b.backends {
		if be.Name == c.Value {
			return i
		}
	}
	return -1
}

// pin sets the sticky cookie to the backend that answered, when it changed.
func (b *Balancer) pin(resp *http.Response) error {
	if !b.cfg.Sticky {
		return nil
	}
	name := ""
	for _, be := range b.backends {
		if be.Addr == resp.Request.URL.Host {
			name = be.Name
		}
	}
	if c, err := resp.Request.Cookie(b.cfg.Cookie); err == nil && c.Value == name {
		return nil
	}
	cookie := &http.Cookie{Name: b.cfg.Cookie, Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	resp.Header.Add("Set-Cookie", cookie.String())
	return nil
}

// markDown has backend i tried last for DownFor.
func (b *Balancer) markDown(i int) {
	if b.cfg.DownFor > 0 {
		b.down[i].Store(time.Now().Add(b.cfg.DownFor).UnixNano())
	}
}

// errorf names the backend in err.
func (b *Balancer) errorf(i int, err error) error {
	return fmt.Errorf("%s: %w", b.backends[i].Name, err)
}
