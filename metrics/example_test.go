package metrics_test

import (
	"fmt"
	"strings"

	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fixedNode stands in for a *store.Node in the example.
type fixedNode store.Stats

func (f fixedNode) Stats() store.Stats { return store.Stats(f) }

func ExampleNewCollector() {
	node := fixedNode{Name: "app-1", Members: []string{"app-1", "app-2"}, OwnedSessions: 40, ReplicaSessions: 38}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.Sources{Node: node}))
	n, err := testutil.GatherAndCount(reg, "sessring_store_sessions", "sessring_store_members")
	fmt.Println(n, err)
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sessring_store_members Live members in this node's view, itself included.
# TYPE sessring_store_members gauge
sessring_store_members{node="app-1"} 2
`), "sessring_store_members")
	fmt.Println(err)
	// Output:
	// 4 <nil>
	// <nil>
}
