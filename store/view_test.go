package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/e5b1d45c/sessring/gossip"
)

// TestViewLeaseIndex checks the per-view read-lease index against a scan of
// every partition, for each member of clusters of 1 to 6 nodes.
func TestViewLeaseIndex(t *testing.T) {
	const partitions = 512
	for size := 1; size <= 6; size++ {
		var members []gossip.Member
		for i := range size {
			members = append(members, gossip.Member{Name: fmt.Sprintf("n%d", i)})
		}
		for _, self := range members {
			v := newView(self.Name, members, nil, partitions, false, nil)
			var from []string
			replicaOf := map[string][]int{}
			for p := range partitions {
				o, r := v.table.Holders(p)
				if o == self.Name && r != "" && !slices.Contains(from, r) {
					from = append(from, r)
				}
				if r == self.Name {
					replicaOf[o] = append(replicaOf[o], p)
				}
			}
			slices.Sort(from)
			if !slices.Equal(v.leaseFrom, from) {
				t.Errorf("%d nodes, %s: leaseFrom = %v, want %v", size, self.Name, v.leaseFrom, from)
			}
			for _, o := range members {
				if got, want := v.replicaOf[o.Name], replicaOf[o.Name]; !slices.Equal(got, want) {
					t.Errorf("%d nodes, %s: replicaOf[%s] has %d partitions, want %d", size, self.Name, o.Name, len(got), len(want))
				}
			}
			if size > 1 && len(v.leaseFrom) == 0 {
				t.Errorf("%d nodes, %s: asks no replica for a lease", size, self.Name)
			}
		}
	}
}
