package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// childEnv turns this binary into a node process: the driver re-executes
// itself with the node's spec in this variable (see examples/internal/proc),
// so a node can be killed with SIGKILL like a crashed server.
const childEnv = "SESSRING_CHAOS_NODE"

// nodeSpec is what the driver tells a node process.
type nodeSpec struct {
	Name    string   `json:"name"`
	Bind    string   `json:"bind"` // gossip host:port, fixed per slot
	HTTP    string   `json:"http"` // the driver API's listen address
	Join    []string `json:"join"` // the other slots' gossip addresses
	Key     []byte   `json:"key"`
	Members int      `json:"members"` // cluster size for /healthz
	Verbose bool     `json:"verbose"`
}

// serverOpTimeout bounds one store call made for the driver; the driver's
// client gives up a little later (clientTimeout).
const serverOpTimeout = 3 * time.Second

// runChild runs one store.Node behind a tiny HTTP API until SIGTERM (graceful
// Close, which hands sessions over) or stdin closes. It prints
// "READY <http-addr>" once serving.
func runChild(raw string) int {
	var spec nodeSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Println("ERROR bad spec:", err)
		return 2
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	out := io.Discard
	if spec.Verbose {
		out = os.Stderr
	}
	cfg := store.DefaultConfig()
	cfg.Name = spec.Name
	cfg.BindAddr = spec.Bind
	cfg.Join = spec.Join
	cfg.SecretKey = spec.Key
	cfg.ProbeInterval = 200 * time.Millisecond
	cfg.ProbeTimeout = 150 * time.Millisecond
	cfg.SuspicionMult = 4
	cfg.GossipInterval = 50 * time.Millisecond
	cfg.PushPullInterval = time.Second
	cfg.OpTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(out, nil)).With("node", spec.Name)
	node, err := store.Open(cfg)
	if err != nil {
		fmt.Println("ERROR", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	ln, err := net.Listen("tcp", spec.HTTP)
	if err != nil {
		node.Close()
		fmt.Println("ERROR", err)
		return 1
	}
	srv := &http.Server{Handler: routes(node, spec.Members), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Println("READY", ln.Addr())

	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin) // returns when the driver closes stdin or exits
		close(eof)
	}()
	select {
	case <-term:
	case <-eof:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(ctx)
	cancel()
	if err := node.Close(); err != nil {
		fmt.Fprintln(os.Stderr, spec.Name, "close:", err)
	}
	return 0
}

func routes(node *store.Node, members int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /commit", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), serverOpTimeout)
		defer cancel()
		tok, val := r.URL.Query().Get("token"), r.URL.Query().Get("value")
		if err := node.CommitCtx(ctx, tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /find", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), serverOpTimeout)
		defer cancel()
		b, ok, err := node.FindCtx(ctx, r.URL.Query().Get("token"))
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case !ok:
			http.Error(w, "not found", http.StatusNotFound)
		default:
			w.Write(b)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st := node.Stats()
		if st.PartitionsPending != 0 || len(st.Members) != members {
			http.Error(w, fmt.Sprintf("pending %d members %d/%d", st.PartitionsPending, len(st.Members), members), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return mux
}
