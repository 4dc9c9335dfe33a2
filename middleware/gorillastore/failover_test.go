package gorillastore

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// TestDefaultTimeoutWaitsOutFailover: with the default gossip timing and
// the Store's default StoreTimeout, a request for a session whose owner
// has just crashed waits for the failover and succeeds; it does not fail
// with a timeout.
func TestDefaultTimeoutWaitsOutFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a failover with default gossip timing")
	}
	net := memnet.New(1)
	var nodes []*store.Node
	var ips []string
	key := storetest.Key()
	for i := range 3 {
		ip := fmt.Sprintf("127.0.0.%d", 21+i)
		cfg := store.DefaultConfig() // default gossip timing and OpTimeout
		cfg.Name, cfg.BindAddr, cfg.RPCAddr, cfg.Network = fmt.Sprintf("g%d", i), ip+":7946", ip+":7947", net.Host(ip)
		cfg.Partitions = 2048             // cheaper; failover timing does not depend on it
		cfg.HandoverTimeout = time.Second // only the crashed node's Close at the end
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg.SecretKey = key
		if i > 0 {
			cfg.Join = []string{ips[0] + ":7946"}
		}
		n, err := store.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes, ips = append(nodes, n), append(ips, ip)
	}
	testkit.EventuallyWhy(t, 30*time.Second, "3 members, every node ready", func() (bool, string) {
		for _, n := range nodes {
			if len(n.Members()) != 3 || n.Ready() != nil {
				return false, fmt.Sprintf("%s: members %v, Ready %v", n.Name(), n.Members(), n.Ready())
			}
		}
		return true, ""
	})

	s := New(nodes[0])
	if s.StoreTimeout != store.DefaultOpTimeout {
		t.Errorf("default StoreTimeout = %v, want store.DefaultOpTimeout (%v)", s.StoreTimeout, store.DefaultOpTimeout)
	}
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	// A session owned by another node than the one serving it (0), so
	// that crashing its owner leaves the server up.
	var cookie *http.Cookie
	owner := 0
	for owner == 0 {
		cookie = call(t, nil, func(w http.ResponseWriter, r *http.Request) {
			sess, _ := s.Get(r, "app")
			sess.Values["n"] = 1
			if err := sess.Save(r, w); err != nil {
				t.Fatal(err)
			}
		})
		o, _ := nodes[0].Locate(cookie.Value) // the cookie holds the token

		owner = int(o[1] - '0')
	}

	net.Crash(ips[owner])
	crashed := time.Now()
	call(t, cookie, func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Get(r, "app")
		if err != nil || sess.IsNew || sess.Values["n"] != 1 {
			t.Fatalf("Get after crashing the owner (%v later): IsNew %v, n %v, err %v; want the stored session", time.Since(crashed), sess.IsNew, sess.Values["n"], err)
		}
		sess.Values["n"] = 2
		if err := sess.Save(r, w); err != nil {
			t.Fatalf("Save after crashing the owner (%v later): %v", time.Since(crashed), err)
		}
	})
	t.Logf("read and write of a session whose owner crashed took %v", time.Since(crashed).Round(time.Millisecond))
}
