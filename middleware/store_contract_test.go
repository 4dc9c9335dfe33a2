package middleware_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/middleware/internal/storecontract"
	"github.com/e5b1d45c/sessring/store"
)

// TestStoreContract holds the in-memory twin the unit tests use and the
// real cluster node to the same contract of middleware.Store.
func TestStoreContract(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		storecontract.Run(t, func(t *testing.T) storecontract.Subject {
			s := memstore.New()
			return storecontract.Subject{Store: s, PutBytes: func(tok string, b []byte) error {
				s.Put(tok, store.Record{Kind: store.KindBytes, Value: b, Expiry: time.Now().Add(time.Hour)})
				return nil
			}}
		})
	})
	t.Run("store.Node", func(t *testing.T) {
		n := contractCluster(t)
		storecontract.Run(t, func(t *testing.T) storecontract.Subject {
			return storecontract.Subject{Store: n, PutBytes: func(tok string, b []byte) error {
				return n.Commit(tok, b, time.Now().Add(time.Hour))
			}}
		})
	})
}

// contractCluster starts three store nodes on an in-memory network and
// returns one of them: most tokens are owned by another node, so the
// contract is checked through the peer calls too.
func contractCluster(t *testing.T) *store.Node {
	testkit.SkipShort(t, "starts an in-memory store cluster")
	net := memnet.New(1)
	var nodes []*store.Node
	var seeds []string
	key := storetest.Key()
	for i := range 3 {
		name, ip := fmt.Sprintf("node-%d", i+1), fmt.Sprintf("127.0.0.%d", 11+i)
		cfg := memnetStoreConfig(net, key, name, ip, seeds)
		n, err := store.Open(cfg)
		if err != nil {
			t.Fatalf("store.Open(%s) = %v", name, err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
		seeds = append(seeds, cfg.BindAddr)
	}
	testkit.Eventually(t, 20*time.Second, "cluster converged", func() bool {
		for _, n := range nodes {
			if s := n.Stats(); len(s.Members) != len(nodes) || s.PartitionsPending != 0 || s.TableID != nodes[0].Stats().TableID {
				return false
			}
		}
		return true
	})
	return nodes[0]
}
