package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// appEnv turns this binary into an app server process: the parent re-executes
// itself with the app's spec in this variable (as store/process_test.go
// does), so a node can be killed with SIGKILL like a real deployment.
const appEnv = "SESSRING_BENCH_APP"

// Backends an app server can keep its sessions in.
const (
	backendSessring  = "sessring"  // the app embeds a store.Node
	backendMemcached = "memcached" // sessions loaded from and saved to memcached per request
	backendRedis     = "redis"     // the same with Redis
	backendNone      = "none"      // no sessions: the floor
)

// appSpec is what the parent tells an app server process.
type appSpec struct {
	Name    string   `json:"name"`
	Backend string   `json:"backend"`
	Sticky  bool     `json:"sticky"` // mint tokens owned by this node
	Bind    string   `json:"bind"`   // gossip host:port (sessring)
	Join    []string `json:"join"`   // gossip seeds (sessring)
	Key     []byte   `json:"key"`    // SecretKey (sessring)
	Addr    string   `json:"addr"`   // memcached or Redis address
	Size    int      `json:"size"`   // session payload bytes
	Verbose bool     `json:"verbose"`
}

// app is one app server: a session backend behind the benchmark handler.
type app struct {
	spec   appSpec
	log    *slog.Logger
	node   *store.Node         // sessring only
	mgr    *middleware.Manager // sessring only
	blobs  blobStore           // memcached and Redis only
	filler []byte              // the session payload, incompressible
}

// runApp runs an app server until stdin closes (graceful) or it is killed.
// It prints "READY <gossip-addr> <http-addr>" once serving.
func runApp(raw string) int {
	var spec appSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Println("ERROR bad spec:", err)
		return 2
	}
	a, err := newApp(spec)
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.close()
		fmt.Println("ERROR", err)
		return 1
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	fmt.Println("READY", a.gossipAddr(), ln.Addr())
	io.Copy(io.Discard, os.Stdin) // returns when the parent closes stdin or exits
	srv.Close()
	<-done
	a.close()
	return 0
}

func newApp(spec appSpec) (*app, error) {
	a := &app{spec: spec, filler: make([]byte, spec.Size)}
	rand.Read(a.filler)
	out := io.Discard
	if spec.Verbose {
		out = os.Stderr
	}
	a.log = slog.New(slog.NewTextHandler(out, nil)).With("app", spec.Name)
	switch spec.Backend {
	case backendSessring:
		return a, a.openNode()
	case backendMemcached:
		c := memcache.New(spec.Addr)
		c.MaxIdleConns = 256 // one per concurrent request: no reconnects under load
		c.Timeout = 2 * time.Second
		a.blobs = memcachedBlobs{c}
	case backendRedis:
		a.blobs = newRedisBlobs(spec.Addr, 256, 2*time.Second)
	case backendNone:
	default:
		return nil, fmt.Errorf("unknown backend %q", spec.Backend)
	}
	return a, nil
}

// openNode joins the sessring cluster with production defaults (gossip
// timing, timeouts, Sync replication) and builds the middleware on it.
func (a *app) openNode() error {
	cfg := store.DefaultConfig()
	cfg.Name = a.spec.Name
	cfg.BindAddr = a.spec.Bind
	cfg.Join = a.spec.Join
	cfg.SecretKey = a.spec.Key
	cfg.Logger = a.log
	n, err := store.Open(cfg)
	if err != nil {
		return err
	}
	mcfg := middleware.DefaultConfig()
	mcfg.Sticky = a.spec.Sticky
	mcfg.Logger = a.log
	m, err := middleware.New(n, mcfg)
	if err != nil {
		n.Close()
		return err
	}
	a.node, a.mgr = n, m
	return nil
}

func (a *app) gossipAddr() string {
	if a.node == nil {
		return "-"
	}
	return a.spec.Bind // chosen by the parent: Node does not report its gossip address
}

func (a *app) close() {
	if a.node != nil {
		a.node.Close()
	}
	if c, ok := a.blobs.(*redisBlobs); ok {
		c.Close()
	}
	if c, ok := a.blobs.(memcachedBlobs); ok {
		c.c.Close()
	}
}
