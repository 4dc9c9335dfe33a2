package middleware_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

func floorTarget() *benchTarget {
	srv := httptest.NewServer(benchApp(nil))
	return &benchTarget{urls: []string{srv.URL}, close: srv.Close}
}

// scsTarget runs replicas scs servers over one store st; closeStore (if
// set) runs after the servers closed.
func scsTarget(st scs.Store, replicas int, closeStore func()) *benchTarget {
	t := &benchTarget{counts: true}
	var srvs []*httptest.Server
	for range replicas {
		m := scs.New()
		m.Store = st
		m.Cookie.Name = "sessring"
		m.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		srv := httptest.NewServer(m.LoadAndSave(benchApp(scsAPI{m})))
		srvs = append(srvs, srv)
		t.urls = append(t.urls, srv.URL)
	}
	t.close = func() {
		for _, s := range srvs {
			s.Close()
		}
		if closeStore != nil {
			closeStore()
		}
	}
	return t
}

// sessringTarget runs three store nodes on loopback TCP (production gossip
// timing), one Manager and server each. With sticky, user u is pinned to
// node u mod 3, whose Manager mints tokens it owns.
func sessringTarget(b *testing.B, key []byte, sticky bool) *benchTarget {
	nodes := openLoopbackCluster(b, key)
	t := &benchTarget{counts: true}
	var srvs []*httptest.Server
	for _, n := range nodes {
		cfg := middleware.DefaultConfig()
		cfg.Logger = discardLogger()
		cfg.Sticky = sticky
		m, err := middleware.New(n, cfg)
		if err != nil {
			closeAll(nodes)
			b.Fatal(err)
		}
		srv := httptest.NewServer(m.LoadAndSave(benchApp(sessringAPI{m})))
		srvs = append(srvs, srv)
		t.urls = append(t.urls, srv.URL)
	}
	if sticky {
		t.pick = func(user, _ int) string { return t.urls[user%len(t.urls)] }
	}
	t.close = func() {
		for _, s := range srvs {
			s.Close()
		}
		closeAll(nodes)
	}
	return t
}

// openLoopbackCluster starts three nodes on real loopback TCP and UDP and
// waits until each sees all three and holds its partitions.
func openLoopbackCluster(b *testing.B, key []byte) []*store.Node {
	b.Helper()
	var nodes []*store.Node
	var seeds []string
	for i := range 3 {
		cfg := store.DefaultConfig()
		cfg.Name = fmt.Sprintf("bench-%d", i)
		cfg.Join = seeds
		cfg.SecretKey = key
		cfg.Insecure = key == nil // the plaintext comparison
		cfg.Logger = discardLogger()
		var n *store.Node
		var err error
		for range 5 { // the free port may be taken before the node binds it
			cfg.BindAddr = freeLoopbackAddr(b)
			if n, err = store.Open(cfg); err == nil {
				break
			}
		}
		if err != nil {
			closeAll(nodes)
			b.Fatalf("store.Open(%s) = %v", cfg.Name, err)
		}
		nodes = append(nodes, n)
		seeds = append(seeds, cfg.BindAddr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !settled(nodes) {
		if time.Now().After(deadline) {
			closeAll(nodes)
			b.Fatal("timed out waiting for 3 members with pulls done")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nodes
}

// settled reports whether every node sees all of them and holds its
// partitions.
func settled(nodes []*store.Node) bool {
	for _, n := range nodes {
		if s := n.Stats(); len(s.Members) != len(nodes) || s.PartitionsPending != 0 {
			return false
		}
	}
	return true
}

// closeAll closes nodes in parallel.
func closeAll(nodes []*store.Node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
}

// freeLoopbackAddr returns 127.0.0.1:port with the port free for TCP and
// UDP (gossip binds both) at the time of the call.
func freeLoopbackAddr(b *testing.B) string {
	b.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if u, err := net.ListenPacket("udp", addr); err == nil {
			u.Close()
			return addr
		}
	}
	b.Fatal("no free loopback port for TCP and UDP")
	return ""
}
