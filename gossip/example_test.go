package gossip_test

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/memnet"
)

// Two nodes on an in-memory network: the second joins through the first,
// and the first learns about it through Changes.
func Example() {
	network := memnet.New(1)
	start := func(ip, name string, seeds ...string) *gossip.Cluster {
		tr, err := network.Host(ip).GossipTransport(ip + ":7946")
		if err != nil {
			panic(err)
		}
		cfg := gossip.DefaultConfig()
		cfg.Name = name
		cfg.Transport = tr
		cfg.Join = seeds
		cfg.Meta = gossip.Meta{RPCAddr: ip + ":7947"}
		cfg.Logger = slog.New(slog.DiscardHandler)
		g, err := gossip.New(cfg)
		if err != nil {
			panic(err)
		}
		return g
	}
	a := start("10.0.0.1", "a")
	defer a.Close()
	b := start("10.0.0.2", "b", "10.0.0.1:7946")
	defer b.Close()

	timeout := time.After(5 * time.Second)
	for len(a.Members()) < 2 {
		select {
		case <-a.Changes():
		case <-timeout:
			fmt.Println("timed out")
			return
		}
	}
	for _, m := range a.Members() {
		fmt.Println(m.Name, m.Addr, "rpc", m.Meta.RPCAddr)
	}
	// Output:
	// a 10.0.0.1:7946 rpc 10.0.0.1:7947
	// b 10.0.0.2:7946 rpc 10.0.0.2:7947
}
