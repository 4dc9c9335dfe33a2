package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
	"github.com/e5b1d45c/sessring/examples/internal/lb"
)

// Shutdown bounds: the balancer's in-flight requests, then each node's
// handover (store's HandoverTimeout is 10s) and exit.
const (
	balancerDrain = 3 * time.Second
	nodeLeave     = 15 * time.Second
)

// cluster is a running demo: the nodes and the balancer in front of them.
type cluster struct {
	o      options
	sup    *supervisor
	lb     *lb.Balancer
	srv    *http.Server
	url    string
	served chan error // the balancer's Serve result

	closeOnce sync.Once
}

// startCluster starts the nodes one after the other (each joins the ones
// before it), then the balancer. On failure it stops what it started.
func startCluster(o options) (*cluster, error) {
	if o.nodes < 1 {
		return nil, fmt.Errorf("-nodes %d: want at least 1", o.nodes)
	}
	if o.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.exe = exe
	}
	warnIfExposed(o, o.stderr)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("-listen: %w", err)
	}
	names := make([]string, o.nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	c := &cluster{o: o, url: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	c.sup = newSupervisor(o.exe, names, childFlags(o, names), o.stdout, o.stderr)
	for _, n := range names {
		if err := c.sup.start(n); err != nil {
			ln.Close()
			c.sup.stopAll(nodeLeave)
			return nil, err
		}
	}
	var backends []lb.Backend
	for _, n := range c.sup.snapshot() {
		backends = append(backends, lb.Backend{Name: n.Name, Addr: strings.TrimPrefix(n.URL, "http://")})
	}
	if c.lb, err = newBalancer(backends, o.sticky, c.allDown); err != nil {
		ln.Close()
		c.sup.stopAll(nodeLeave)
		return nil, err
	}
	c.srv = &http.Server{Handler: c.routes(ln.Addr().String()), ReadHeaderTimeout: 5 * time.Second}
	go func() { c.served <- c.srv.Serve(ln) }()
	return c, nil
}

// newBalancer is the demo's load balancer over the nodes: round-robin, a
// node that refuses the connection (it crashed) passed over at once and
// tried again on its next turn, so a restarted node is back immediately;
// the nodes trust its X-Forwarded-Proto.
func newBalancer(backends []lb.Backend, sticky bool, onAllDown http.HandlerFunc) (*lb.Balancer, error) {
	return lb.New(backends, lb.Config{Sticky: sticky, Forwarded: true, OnAllDown: onAllDown})
}

// routes serves the crash and start controls and hands everything else to
// the balancer. The controls kill and start processes, so a web page on
// another site must not be able to trigger them from the developer's
// browser: cross-origin POSTs are refused (Sec-Fetch-Site and Origin, Go's
// CrossOriginProtection), and so are requests naming another host than the
// loopback address listened on, which is how a DNS-rebinding page would
// make itself same-origin.
func (c *cluster) routes(listenAddr string) http.Handler {
	controls := http.NewServeMux()
	controls.HandleFunc("POST "+demo.CrashPath, c.crash)
	controls.HandleFunc("POST "+demo.StartPath, c.start)
	guarded := onlyHosts(loopbackHosts(listenAddr), http.NewCrossOriginProtection().Handler(controls))
	mux := http.NewServeMux()
	mux.Handle(demo.CrashPath, guarded)
	mux.Handle(demo.StartPath, guarded)
	mux.Handle("/", c.lb)
	return mux
}

// loopbackHosts lists the Host headers that name a loopback listener at
// addr; nil (any host) when the listener is not on loopback.
func loopbackHosts(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil
	}
	return []string{net.JoinHostPort(host, port), net.JoinHostPort("localhost", port)}
}

// onlyHosts refuses requests whose Host is not in hosts (nil: any).
func onlyHosts(hosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hosts != nil && !slices.Contains(hosts, r.Host) {
			http.Error(w, "forbidden: unexpected Host", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// childFlags are the flags every node gets besides its name and addresses.
func childFlags(o options, names []string) []string {
	f := []string{"-controls", strings.Join(names, ",")}
	if o.sticky {
		f = append(f, "-sticky")
	}
	if o.memcached != "" {
		f = append(f, "-memcached", o.memcached)
	}
	return f
}

// close stops the balancer, then asks the nodes to leave. It is
// idempotent.
func (c *cluster) close() {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), balancerDrain)
		if c.srv.Shutdown(ctx) != nil {
			c.srv.Close()
		}
		cancel()
		c.sup.stopAll(nodeLeave)
	})
}

func (c *cluster) printBanner() {
	w := c.o.stdout
	mode := "round-robin"
	if c.o.sticky {
		mode = "sticky (cookie " + lb.DefaultCookie + ")"
	}
	fmt.Fprintf(w, "sessring demo: %d nodes, each a child process, behind a %s load balancer\n", c.o.nodes, mode)
	for _, n := range c.sup.snapshot() {
		fmt.Fprintf(w, "  %-4s %s  gossip %s  pid %d\n", n.Name, n.URL, n.Gossip, n.PID)
	}
	if c.o.memcached != "" {
		fmt.Fprintf(w, "  cold tier: memcached %s\n", c.o.memcached)
	}
	fmt.Fprintf(w, "\nopen %s\n\n", c.url)
}

// crash kills the named node with SIGKILL.
func (c *cluster) crash(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue(demo.NodeField)
	err := c.sup.kill(name)
	switch {
	case err == nil:
		fmt.Fprintf(c.o.stdout, "%s crashed (SIGKILL)\n", name)
		msg := name + " was killed with SIGKILL: no handover, no goodbye. The others notice within about 3s (requests for its sessions wait until then), then its sessions' replicas take over."
		if running := c.sup.runningCount(); 2*running <= c.o.nodes {
			msg += fmt.Sprintf(" Only %d of %d nodes run now: a node that sees no majority of the members it knows (lost ones count for 30s) refuses to serve, as it cannot tell a crash from a network split.", running, c.o.nodes)
		}
		back(w, r, msg)
	case errors.Is(err, errNotRunning):
		back(w, r, name+" is not running.")
	default:
		c.failed(w, err)
	}
}

// start starts the named node again under its old name and addresses.
func (c *cluster) start(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue(demo.NodeField)
	err := c.sup.start(name)
	switch {
	case err == nil:
		fmt.Fprintf(c.o.stdout, "%s started again\n", name)
		back(w, r, name+" started again and rejoined; it pulls its share of the sessions back from the others.")
	case errors.Is(err, errRunning):
		back(w, r, name+" is already running.")
	default:
		c.failed(w, err)
	}
}

func (c *cluster) failed(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, errUnknownNode) {
		code = http.StatusBadRequest
	}
	http.Error(w, err.Error(), code)
}

// back redirects to the page with a notice.
func back(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/?"+demo.MsgParam+"="+url.QueryEscape(msg), http.StatusSeeOther)
}

// allDown answers when no node accepted the connection.
func (c *cluster) allDown(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	allDownTmpl.Execute(w, c.sup.snapshot())
}

var allDownTmpl = template.Must(template.New("down").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sessring demo · no node</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto">
<h1>No node is running</h1>
<p>Every node refused the connection. Without a memcached cold tier (-memcached) the
sessions are gone once both holders of a session are down.</p>
<ul>{{range .}}<li>{{.Name}} {{if .Running}}running{{else}}
<form method="post" action="` + demo.StartPath + `" style="display:inline"><input type="hidden" name="` + demo.NodeField + `" value="{{.Name}}"><button class="start">start</button></form>{{end}}</li>
{{end}}</ul></body></html>
`))
