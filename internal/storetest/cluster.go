package storetest

import (
	"testing"

	"github.com/e5b1d45c/sessring/internal/clustertest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// Config returns the config of a store node at h on a test cluster's
// network: keyed with key, tuned by Fast, logging quietly.
func Config(h clustertest.Host, key []byte) store.Config {
	cfg := store.DefaultConfig()
	cfg.Name = h.Name
	cfg.BindAddr = h.GossipAddr()
	cfg.RPCAddr = h.RPCAddr()
	cfg.Join = h.Join
	cfg.SecretKey = key
	cfg.Network = h.Net
	Fast(&cfg)
	cfg.Logger = testkit.QuietLogger()
	return cfg
}

// View is what clustertest needs of a store node to tell convergence.
func View(n *store.Node) clustertest.View {
	s := n.Stats()
	return clustertest.View{Members: len(s.Members), Pending: s.PartitionsPending, Table: s.TableID}
}

// Options adjust a cluster of store nodes. The zero value is valid.
type Options struct {
	// Key is every node's SecretKey. Default: a fresh Key().
	Key []byte
	// Tweak adjusts every node's config after Config.
	Tweak func(*store.Config)
}

// NewCluster starts size store nodes (node-01, ...) on an in-memory network
// and waits until they converged; more can be added with Add. Under
// go test -short it skips t.
func NewCluster(t testing.TB, size int, opt Options) *clustertest.Cluster[*store.Node] {
	t.Helper()
	testkit.SkipShort(t, "starts an in-memory store cluster")
	if opt.Key == nil {
		opt.Key = Key()
	}
	c := clustertest.New(t, clustertest.Hooks[*store.Node]{
		Open: func(h clustertest.Host) (*store.Node, error) {
			cfg := Config(h, opt.Key)
			if opt.Tweak != nil {
				opt.Tweak(&cfg)
			}
			return store.Open(cfg)
		},
		View: View,
	})
	for range size {
		c.Add()
	}
	c.WaitConverged()
	return c
}
