package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/internal/version"
)

// TestClusterVersion: the cluster speaks the highest version every live
// member supports. A member of the first release (1 only) holds it at V1
// until it leaves; a node speaking none of the cluster's versions is
// refused at join with an error naming both sides' versions.
func TestClusterVersion(t *testing.T) {
	c := newTestCluster(t, 2)
	old := addFirstRelease(t, c)
	wantBackupVersion(t, c, version.V1) // the format every member reads
	c.Leave(old.name)
	waitVersion(t, c, version.Max)
	wantBackupVersion(t, c, version.Max)

	c.tweak = func(cfg *Config) { cfg.versions = version.Range{Min: version.Max + 1, Max: version.Max + 2} }
	cfg := c.config("future", "127.0.0.99", c.Seeds("future"))
	n, err := Open(cfg)
	if err == nil {
		n.Close()
		t.Fatalf("Open(a node speaking %v) = nil error, want a refusal", cfg.versions)
	}
	want := "protocol versions " + cfg.versions.String()
	if !errors.Is(err, gossip.ErrIncompatible) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), version.Supported().String()) {
		t.Errorf("Open(a node speaking %v) error = %v, want ErrIncompatible naming %q and %v", cfg.versions, err, want, version.Supported())
	}
	for _, n := range c.Nodes() {
		if got := len(n.Stats().Members); got != 2 {
			t.Errorf("%s has %d members after the refusal, want 2", n.name, got)
		}
	}
}

// addFirstRelease adds to c, which speaks the newest version, a node
// speaking version 1 only, as the first release does, and waits until the
// cluster speaks 1.
func addFirstRelease(t *testing.T, c *testCluster) *Node {
	t.Helper()
	waitVersion(t, c, version.Max)
	c.tweak = func(cfg *Config) { cfg.versions = version.Range{Min: 1, Max: 1} }
	old := c.Add()
	c.tweak = nil
	c.WaitConverged()
	waitVersion(t, c, version.V1)
	return old
}

// wantBackupVersion checks that every live node writes backup values at
// version want.
func wantBackupVersion(t *testing.T, c *testCluster, want int) {
	t.Helper()
	for _, n := range c.Nodes() {
		if v := n.writeVersion(); v != want {
			t.Errorf("%s writes backup values at version %d, want %d", n.name, v, want)
		}
	}
}

// waitVersion waits until every live node's ClusterVersion is want.
func waitVersion(t *testing.T, c *testCluster, want int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "cluster version "+version.Range{Min: want, Max: want}.String(), func() bool {
		for _, n := range c.Nodes() {
			if n.ClusterVersion() != want || n.Stats().ClusterVersion != want {
				return false
			}
		}
		return true
	})
}

// TestClusterVersionKeepsLostMembers: a member of an older release that
// crashes still counts until it is forgotten, so the others do not start
// writing a format it cannot read when it comes back; a graceful leave
// raises the version at once.
func TestClusterVersionKeepsLostMembers(t *testing.T) {
	c := newTestCluster(t, 2)
	old := addFirstRelease(t, c)
	c.Crash(old.name)
	testkit.Eventually(t, 10*time.Second, "the crash noticed", func() bool {
		for _, n := range c.Nodes() {
			if len(n.Stats().Members) != 2 {
				return false
			}
		}
		return true
	})
	for _, n := range c.Nodes() {
		if got := n.ClusterVersion(); got != version.V1 {
			t.Fatalf("%s speaks version %d after the only version-1 member crashed, want 1 until it is forgotten", n.name, got)
		}
	}
}

// TestNoteClusterVersion is the version rule without a cluster: the node
// speaks the highest version every live member supports, counting itself,
// and a member that advertises no versions (the first release) holds it at
// V1.
func TestNoteClusterVersion(t *testing.T) {
	member := func(lo, hi int) gossip.Member {
		return gossip.Member{Meta: gossip.Meta{MinVersion: lo, MaxVersion: hi}}
	}
	for _, tc := range []struct {
		name    string
		self    version.Range
		members []gossip.Member
		want    int
	}{
		{"alone", version.Supported(), nil, version.Max},
		{"all current", version.Supported(), []gossip.Member{member(version.Min, version.Max), member(version.Min, version.Max)}, version.Max},
		{"a first-release member", version.Supported(), []gossip.Member{member(version.Min, version.Max), {}}, version.V1},
		{"this node is older", version.Range{Min: 1, Max: 1}, []gossip.Member{member(version.Min, version.Max)}, version.V1},
		{"a newer member", version.Supported(), []gossip.Member{member(version.Min, version.Max+1)}, version.Max},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &Node{log: testkit.QuietLogger()}
			n.cfg.versions = tc.self
			n.noteClusterVersion(tc.members, nil)
			if got := n.ClusterVersion(); got != tc.want {
				t.Errorf("ClusterVersion() = %d, want %d", got, tc.want)
			}
		})
	}
}
