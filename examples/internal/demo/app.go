package demo

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// counterKey is the session key of the demo's counter.
const counterKey = "count"

// app is a joined demo node: its routes and what they use.
type app struct {
	name     string
	url      string // this node's own http://host:port
	node     *store.Node
	sessions *middleware.Manager
	mc       *backup.Memcached // nil without -memcached
	rec      *metrics.Recorder // latency histograms and membership events
	controls []string
	peers    *http.Client // for /api/node of other members
	// urlsMu guards urls, the last directory read (see lookupURLs).
	urlsMu sync.Mutex
	urls   map[string]string
	log    *slog.Logger

	draining atomic.Bool // shutting down: /healthz answers 503

	stop chan struct{} // closed to end registerLoop
	wg   sync.WaitGroup
}

func newApp(o Options, url string, node *store.Node, sessions *middleware.Manager, mc *backup.Memcached, rec *metrics.Recorder) *app {
	return &app{
		name: o.Name, url: url, node: node, sessions: sessions, mc: mc, rec: rec, controls: o.Controls,
		peers: &http.Client{Timeout: peerTimeout},
		log:   o.Logger,
		stop:  make(chan struct{}),
	}
}

// routes is the full handler once the node has joined.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	withSession := a.sessions.LoadAndSave
	mux.Handle("GET /{$}", withSession(http.HandlerFunc(a.page)))
	mux.Handle("POST /incr", withSession(http.HandlerFunc(a.incrForm)))
	mux.Handle("POST /api/incr", withSession(http.HandlerFunc(a.apiIncr)))
	mux.Handle("GET /api/session", withSession(http.HandlerFunc(a.apiSession)))
	mux.HandleFunc("GET /api/cluster", a.apiCluster)
	mux.HandleFunc("GET /api/node", a.apiNode)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	src := metrics.Sources{Node: a.node, Sessions: a.sessions, Recorder: a.rec}
	if a.mc != nil {
		src.Memcached = a.mc
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /status", a.statusPage(metrics.StatusHandler(src)))
	mux.Handle("GET /api/status", withSession(http.HandlerFunc(a.apiStatus)))
	return mux
}

// register starts keeping this node's HTTP address in the directory.
func (a *app) register() {
	a.wg.Add(1)
	go a.registerLoop()
}

// registerLoop writes the directory entry until it succeeds (the first
// writes after joining may wait for partitions to settle), then refreshes
// it now and then in case both holders of the record were lost at once.
func (a *app) registerLoop() {
	defer a.wg.Done()
	for {
		wait := registerRefresh
		if err := registerSelf(a.node, a.name, a.url); err != nil {
			a.log.Debug("directory registration failed; retrying", "err", err)
			wait = registerRetry
		}
		select {
		case <-a.stop:
			return
		case <-time.After(wait):
		}
	}
}

// healthz is 200 while the node is joined and not shutting down.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "error": "shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true, "name": a.name, "members": len(a.node.Members())})
}

// readyz is 200 while the node should get requests: joined, its share of
// partitions pulled (store.Node.Ready), not shutting down. Otherwise 503
// with the reason, for a load balancer or a Kubernetes readiness probe.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	err := a.node.Ready()
	if a.draining.Load() {
		err = errors.New("shutting down")
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true, "name": a.name})
}

// livez is 200 while the process serves HTTP at all, joined or not: a
// Kubernetes liveness probe restarts the process only when it hangs.
func livez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"alive": true})
}

// close stops the directory refresh and closes the node (handing its
// sessions over), then the cold tier.
func (a *app) close() error {
	a.stopRegistering()
	err := a.node.Close()
	if a.mc != nil {
		err = errors.Join(err, a.mc.Close())
	}
	return err
}

func (a *app) stopRegistering() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	jsonHeaders(w)
	w.WriteHeader(code)
	writeBody(w, v)
}

func jsonHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
}

func writeBody(w http.ResponseWriter, v any) {
	json.NewEncoder(w).Encode(v)
}
