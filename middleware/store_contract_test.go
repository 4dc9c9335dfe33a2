package middleware_test

import (
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/storetest"
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
	c := storetest.NewCluster(t, 3, storetest.Options{Tweak: func(cfg *store.Config) {
		cfg.AntiEntropyInterval = 500 * time.Millisecond
		cfg.SweepInterval = 50 * time.Millisecond
		cfg.HandoverTimeout = 2 * time.Second
	}})
	return c.Nodes()[0]
}
