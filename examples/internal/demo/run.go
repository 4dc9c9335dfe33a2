package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// failoverWait bounds each store call and lock wait. The defaults
// (store.DefaultOpTimeout, 6s) wait out a failover with default gossip
// timing (about 4s); the demo, often run on a loaded laptop next to a
// browser, gives it more room: a person clicking right after a crash sees
// a slow page, not an error.
const failoverWait = 10 * time.Second

// Shutdown bounds.
const (
	drainTimeout      = 5 * time.Second // in-flight HTTP requests
	unregisterTimeout = 2 * time.Second // removing our directory entry
)

// ShutdownBound is the longest a node takes from SIGTERM to exit: removing
// its directory entry, draining HTTP, then store.Node.Close with the
// default HandoverTimeout (the hand-over and departure notices share it,
// leaving gossip takes up to half of it more, and in-flight peer requests
// get up to a second). A supervisor's grace period (Kubernetes
// terminationGracePeriodSeconds) must exceed it plus any delay before
// SIGTERM (preStop), or the hand-over is cut short by SIGKILL.
func ShutdownBound() time.Duration {
	h := store.DefaultConfig().HandoverTimeout
	return unregisterTimeout + drainTimeout + h + h/2 + time.Second
}

// Run serves one demo node until ctx ends, then shuts down gracefully: it
// answers 503 on /healthz and /readyz, finishes in-flight requests, hands its sessions
// over and leaves the cluster (store.Node.Close). A process killed instead
// does none of that, which is the crash the demo is about.
//
// The HTTP server starts first, answering 503 while the node joins, so a
// load balancer's health check can see it coming.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.withDefaults()
	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen -http: %w", err)
	}
	if err := resolveBind(&o); err != nil {
		ln.Close()
		return err
	}
	url := "http://" + ln.Addr().String()

	var handler atomic.Pointer[http.Handler]
	setHandler(&handler, joiningHandler())
	top := http.NewServeMux()
	top.HandleFunc("GET /livez", livez) // alive from the first moment to the last
	top.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	srv := &http.Server{
		Handler:           top,
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintln(o.Out, State{o.Name, StateJoining, url, o.BindAddr})

	a, err := start(o, url)
	if err != nil {
		srv.Close()
		<-served
		return err
	}
	setHandler(&handler, a.routes())
	a.register()
	fmt.Fprintln(o.Out, State{o.Name, StateReady, url, o.BindAddr})

	select {
	case <-ctx.Done():
	case err = <-served:
		a.close()
		return fmt.Errorf("http server: %w", err)
	}
	return shutdown(srv, served, a)
}

// shutdown drains HTTP, then closes the node gracefully.
func shutdown(srv *http.Server, served <-chan error, a *app) error {
	a.draining.Store(true)
	uctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
	a.unregister(uctx)
	cancel()
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	err := srv.Shutdown(dctx)
	cancel()
	if err != nil {
		srv.Close()
	}
	<-served
	return a.close()
}

func setHandler(p *atomic.Pointer[http.Handler], h http.Handler) { p.Store(&h) }

// joiningHandler answers every request while the node has not joined yet.
func joiningHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "error": "joining the cluster"})
	})
}

// resolveBind picks the gossip port when -bind has port 0, and the default
// name, which depends on it.
func resolveBind(o *Options) error {
	host, port, _ := net.SplitHostPort(o.BindAddr)
	if port == "0" {
		addr, err := freeGossipAddr(host)
		if err != nil {
			return err
		}
		o.BindAddr, port = addr, addr[strings.LastIndexByte(addr, ':')+1:]
	}
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "node"
		}
		o.Name = h + "-" + port
	}
	return nil
}

// start opens the cold tier, the store node and the session manager.
func start(o Options, url string) (*app, error) {
	var mc *backup.Memcached
	rec := metrics.NewRecorder()
	cfg := store.DefaultConfig()
	cfg.Observer = rec
	cfg.Name, cfg.BindAddr, cfg.Join, cfg.SecretKey, cfg.Logger = o.Name, o.BindAddr, o.Join, o.Key, o.Logger
	cfg.AdvertiseAddr = o.Advertise
	cfg.Insecure = o.Insecure
	cfg.OpTimeout = failoverWait
	if len(o.Memcached) > 0 {
		var err error
		mc, err = backup.New(backup.Config{Servers: o.Memcached, SecretKey: o.Key, Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("-memcached: %w", err)
		}
		cfg.Backup = mc
	}
	node, err := store.Open(cfg)
	if err != nil {
		if mc != nil {
			mc.Close()
		}
		return nil, err
	}
	mcfg := middleware.DefaultConfig()
	mcfg.Sticky, mcfg.Logger, mcfg.Observer = o.Sticky, o.Logger, rec
	mcfg.StoreTimeout, mcfg.LockWait = failoverWait, failoverWait
	// The demo is served over plain HTTP, directly on localhost or through
	// the examples/cluster balancer, which overwrites X-Forwarded-Proto:
	// believe it, or the proxied requests would get Secure cookies that a
	// plain-HTTP client does not send back.
	mcfg.Cookie.TrustForwardedProto = true
	// The counter is read, changed and written back: lock those requests
	// cluster-wide so two clicks never count once (-locking auto, the
	// default). LockAuto learns that page views do not write and lets them
	// run unlocked.
	mcfg.Locking = o.Locking
	sessions, err := middleware.New(node, mcfg)
	if err != nil {
		node.Close()
		if mc != nil {
			mc.Close()
		}
		return nil, err
	}
	return newApp(o, url, node, sessions, mc, rec), nil
}
