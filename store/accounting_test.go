package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestAccountingTracksHeap checks that the bytes counted against MaxBytes
// follow what the sessions really occupy on the heap, for opaque values and
// for field sessions (where per-field overhead dominates), so MaxBytes
// bounds memory as documented rather than a fraction of it.
func TestAccountingTracksHeap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(n *Node, tok string) error
	}{
		{"bytes 200", func(n *Node, tok string) error {
			return n.Commit(tok, make([]byte, 200), time.Now().Add(time.Hour))
		}},
		{"4 fields", func(n *Node, tok string) error {
			_, err := n.Apply(context.Background(), tok, Mutation{Set: map[string][]byte{
				"user": []byte("alice@example.com"), "cart": []byte("sku-1,sku-2"), "csrf": []byte("0123456789abcdef"), "theme": []byte("dark"),
			}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 1)
			n := c.Nodes()[0]
			heap := func() uint64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			const count = 20000
			before, held := heap(), n.Stats().BytesHeld
			for i := range count {
				if err := tc.write(n, fmt.Sprintf("acct-%043d", i)); err != nil {
					t.Fatal(err)
				}
			}
			real := float64(heap() - before)
			counted := float64(n.Stats().BytesHeld - held)
			t.Logf("%d sessions: heap +%.0f KiB, counted %.0f KiB (%.2f of the heap; %.0f / %.0f bytes per session)",
				count, real/1024, counted/1024, counted/real, real/count, counted/count)
			if r := counted / real; r < 0.8 || r > 1.5 {
				t.Errorf("counted bytes are %.2f of the heap they occupy, want 0.8-1.5", r)
			}
		})
	}
}
