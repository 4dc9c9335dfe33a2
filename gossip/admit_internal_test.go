package gossip

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/memberlist"
)

// TestNotifyAlive checks admission through gossip alone, the path a node
// takes when it skips the join check (a build without one).
func TestNotifyAlive(t *testing.T) {
	node := func(name string, lo, hi int) *memberlist.Node {
		b, err := Meta{RPCAddr: "h:1", MinVersion: lo, MaxVersion: hi}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: name, Meta: b}
	}
	r := newRoster("a", slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.upsert(node("a", 1, 2))
	r.upsert(node("b", 1, 1)) // first release: the cluster speaks 1
	adm := &admission{self: "a", roster: r, guard: &nameGuard{name: "a"}}
	for _, tc := range []struct {
		peer   *memberlist.Node
		refuse bool
	}{
		{node("a", 1, 2), false}, // itself
		{node("c", 1, 2), false},
		{node("c", 1, 1), false},
		{node("c", 2, 3), true},                               // the cluster speaks 1 (b)
		{node("b", 2, 3), false},                              // b itself upgraded: a speaks 2
		{&memberlist.Node{Name: "c", Meta: []byte{9}}, false}, // undecodable: the roster's concern
	} {
		err := adm.NotifyAlive(tc.peer)
		if got := errors.Is(err, ErrIncompatible); got != tc.refuse {
			t.Errorf("NotifyAlive(%s with meta %x) = %v, want refusal %v", tc.peer.Name, tc.peer.Meta, err, tc.refuse)
		}
	}
}
