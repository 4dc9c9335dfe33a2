package metrics_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/e5b1d45c/sessring/store"
	"github.com/e5b1d45c/sessring/store/metrics"
)

// fixedNode stands in for a *store.Node in the example.
type fixedNode store.Stats

func (f fixedNode) Stats() store.Stats { return store.Stats(f) }

func ExampleWrite() {
	node := fixedNode{Name: "app-1", Members: []string{"app-1", "app-2"}, OwnedSessions: 40, ReplicaSessions: 38}
	var buf bytes.Buffer
	if err := metrics.Write(&buf, metrics.Node(node)); err != nil {
		panic(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, "sessring_store_sessions") || strings.HasPrefix(line, "sessring_store_members") ||
			strings.HasPrefix(line, "# TYPE sessring_store_sessions ") {
			fmt.Println(line)
		}
	}
	// Output:
	// # TYPE sessring_store_sessions gauge
	// sessring_store_sessions{node="app-1",role="owner"} 40
	// sessring_store_sessions{node="app-1",role="replica"} 38
	// sessring_store_sessions{node="app-1",role="orphan"} 0
	// sessring_store_members{node="app-1"} 2
}
