package backup_test

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// TestNoStaleBackupAfterOwnershipMoves: a new node joins and takes over
// some sessions, writes their next versions and backs them up; the old
// owners, which had the previous versions queued, flush their queues later
// (here on Close, with a long BackupDelay; in production whenever their
// timer fires). They must not overwrite the newer versions in memcached:
// once every queue is empty, a full restart serves the latest versions.
func TestNoStaleBackupAfterOwnershipMoves(t *testing.T) {
	srv := memcachedtest.Start(t)
	slow := func(cfg *store.Config) {
		if cfg.Name != "new" {
			cfg.BackupDelay = time.Hour // flushed only by Close
		}
	}
	c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: clusterKey}, slow)
	c.start(names("old", 3)...)
	want := sessionValues("moved", 300, "v1")
	commitAll(t, c, want, time.Now().Add(time.Hour))
	c.start("new")
	newNode := c.nodes()[3]
	moved := make(map[string]string)
	for tok := range want {
		if owner, _ := newNode.Locate(tok); owner == "new" {
			moved[tok] = tok + "-v2"
		}
	}
	if len(moved) == 0 {
		t.Fatal("the new node owns none of the sessions")
	}
	commitAll(t, c, moved, time.Now().Add(time.Hour))
	maps.Copy(want, moved)
	testkit.Eventually(t, 10*time.Second, "the new owner's queue to drain", func() bool { return newNode.Stats().Backup.Pending == 0 })
	for _, name := range names("old", 3) {
		m := c.Forget(name)
		if err := m.node.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Logf("Close(%s) = %v", m.name, err)
		}
		m.backup.Close()
	}
	c.waitDrained(10 * time.Second)
	c.crashAll()
	c.start("fresh")
	checkValues(t, c, want)
}
