package gossip_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
)

// TestJoinRefusesIncompatibleVersions: a node whose protocol versions share
// none with the cluster's is refused at once, with an error naming both
// ranges, and never becomes a member; a node of the first release (no
// versions in its metadata: 1 only) is admitted.
func TestJoinRefusesIncompatibleVersions(t *testing.T) {
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	b := c.mustStart("127.0.0.12", 0, fastConfig(t, "b", seedAddr))
	waitMembers(t, 3*time.Second, "a,b", a, b)

	cfg := fastConfig(t, "future", seedAddr)
	cfg.Meta.MinVersion, cfg.Meta.MaxVersion = 3, 4
	start := time.Now()
	_, err := c.start("127.0.0.13", 0, cfg)
	if !errors.Is(err, gossip.ErrIncompatible) {
		t.Fatalf("New(future, versions 3..4) error = %v, want ErrIncompatible", err)
	}
	for _, want := range []string{`"future" speaks protocol versions 3..4`, `"a" and "b" speak 1..2`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New(future) error = %q, want it to say %q", err, want)
		}
	}
	if took := time.Since(start); took > cfg.JoinTimeout/2 {
		t.Errorf("New(future) took %v to fail, want no retries until JoinTimeout (%v)", took, cfg.JoinTimeout)
	}
	holds(t, 300*time.Millisecond, "a and b without future", func() bool {
		return names(a.Members()) == "a,b" && names(b.Members()) == "a,b"
	})

	old := fastConfig(t, "old", seedAddr)
	old.Meta.MinVersion, old.Meta.MaxVersion = 1, 1
	o := c.mustStart("127.0.0.14", 0, old)
	waitMembers(t, 3*time.Second, "a,b,old", a, b, o)
	m, _ := member(a, "old")
	if lo, hi := m.Meta.Versions(); lo != 1 || hi != 1 {
		t.Errorf("a sees old speaking %d..%d, want 1..1", lo, hi)
	}

	// A member may not move its own range out of the cluster's either:
	// peers would refuse its alive messages and keep its old Meta.
	moved := o.Self().Meta
	moved.MinVersion, moved.MaxVersion = 3, 4
	if err := o.SetMeta(moved); !errors.Is(err, gossip.ErrIncompatible) {
		t.Errorf("SetMeta(versions 3..4) in a 1..2 cluster error = %v, want ErrIncompatible", err)
	}
	if lo, hi := o.Self().Meta.Versions(); lo != 1 || hi != 1 {
		t.Errorf("old speaks %d..%d after a refused SetMeta, want 1..1", lo, hi)
	}
}

// TestJoinRefusedBySeed: the seed refuses too. A lone node speaking 3..4
// asks a 1..2 cluster to merge with it through Cluster.Join; neither side
// takes the other in.
func TestJoinRefusedBySeed(t *testing.T) {
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	cfg := fastConfig(t, "future")
	cfg.Meta.MinVersion, cfg.Meta.MaxVersion = 3, 4
	f := c.mustStart("127.0.0.13", 0, cfg)
	if _, err := f.Join([]string{seedAddr}); err == nil || !strings.Contains(err.Error(), "incompatible protocol versions") {
		t.Errorf("future.Join(a) error = %v, want an incompatible-versions refusal", err)
	}
	holds(t, 300*time.Millisecond, "a and future apart", func() bool {
		return names(a.Members()) == "a" && names(f.Members()) == "future"
	})
}
