package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/e5b1d45c/sessring/internal/version"
)

// firstRelease is the commit whose formats are protocol version 1: the
// build every later one must upgrade from without losing a session.
const firstRelease = "164c29a"

// TestRollingUpgrade replaces, one at a time, the three nodes of a cluster
// built from the first release with nodes of this build, while four clients
// increment 24 sessions through the nodes that are up (a draining load
// balancer), then restarts the new nodes one at a time. Locking is on
// (examples/node uses LockAuto).
//
// During the upgrade no request may fail because old and new nodes
// disagree: the only failures allowed are "lease lost" answers involving a
// node of the first release, whose handover drops its lock leases (fixed in
// later builds). Once the last old node is gone the cluster speaks the
// newest version on every node, and the restart of the new nodes fails no
// request at all. No acknowledged increment is ever lost.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the first release and starts processes")
	}
	c := newUpgradeCluster(t, buildFirstRelease(t))
	for i := range 3 {
		c.start(i, true)
	}
	c.waitSettled()
	sessions := make([]*labSession, 24)
	for k := range sessions {
		sessions[k] = &labSession{}
		if _, err := c.incr(sessions[k], k%3); err != nil {
			t.Fatal(err)
		}
	}
	load := c.startLoad(sessions)

	for i := range 3 {
		c.replace(i, false)
		t.Logf("%s now runs this build", c.name(i))
		if i < 2 { // first-release nodes remain: the cluster must keep to their version
			if v, body := c.clusterVersion(i); v != version.V1 {
				t.Errorf("%s reports cluster version %d beside first-release nodes, want %d: %s", c.name(i), v, version.V1, body)
			}
		}
	}
	c.waitClusterVersion(version.Max)
	c.checkVersionHeld()
	upgraded, failures, slowest := load.phase()
	explained, refused := c.classify(failures)
	t.Logf("upgrade under load: %d increments acknowledged, %d failed, %d of them a lease a first-release node dropped; slowest request %v",
		upgraded, len(failures), explained, slowest)
	for _, f := range refused {
		t.Errorf("failed during the upgrade: %s", f)
	}

	for i := range 3 {
		c.replace(i, false)
		t.Logf("%s restarted", c.name(i))
	}
	restarted, failures, slowest := load.stop()
	t.Logf("rolling restart of the new nodes under load: %d increments acknowledged, %d failed; slowest request %v", restarted, len(failures), slowest)
	if len(failures) > 0 {
		_, refused := c.classify(failures)
		t.Errorf("%d requests failed during the rolling restart of new nodes, want 0; unexplained: %q", len(failures), refused)
	}
	if upgraded == 0 || restarted == 0 {
		t.Errorf("acknowledged increments: %d during the upgrade, %d during the restart; want load in both", upgraded, restarted)
	}
	c.checkCounts(sessions)
}

// buildFirstRelease builds examples/node at firstRelease, from a git
// worktree removed afterwards, and returns the binary. Without git or the
// commit (a shallow clone) it skips, except under CI=true.
func buildFirstRelease(t *testing.T) string {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("CI") == "true" {
		unavailable = t.Fatalf
	}
	if _, err := exec.LookPath("git"); err != nil {
		unavailable("rolling upgrade test needs git to build %s: %v", firstRelease, err)
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		unavailable("rolling upgrade test needs a git checkout to build %s: %v", firstRelease, err)
	}
	repo := strings.TrimSpace(string(out))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", firstRelease+"^{commit}").Run(); err != nil {
		unavailable("rolling upgrade test needs commit %s (a shallow clone? fetch the full history): %v", firstRelease, err)
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	// A run killed before its cleanup leaves a registration whose
	// directory is gone; prune drops such registrations.
	exec.Command("git", "-C", repo, "worktree", "prune").Run()
	if out, err := exec.Command("git", "-C", repo, "worktree", "add", "--detach", src, firstRelease).CombinedOutput(); err != nil {
		t.Fatalf("git worktree add %s: %v\n%s", firstRelease, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("git", "-C", repo, "worktree", "remove", "--force", src).CombinedOutput(); err != nil {
			t.Errorf("git worktree remove %s: %v\n%s", src, err, out)
		}
	})
	bin := filepath.Join(tmp, "node-"+firstRelease)
	build := exec.Command("go", "build", "-o", bin, "./examples/node")
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=readonly"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/node at %s: %v\n%s", firstRelease, err, out)
	}
	return bin
}
