package store

import (
	"testing"
	"time"
)

// TestTombstoneOutlivesSession: the deletion of a session is remembered at
// least until the session's own deadline, not just TombstoneTTL.
func TestTombstoneOutlivesSession(t *testing.T) {
	n := &Node{cfg: Config{TombstoneTTL: 10 * time.Minute}}
	now := time.Now().UnixNano()
	for _, tc := range []struct {
		name string
		live *entry
		want int64 // minimum tombstone expiry
	}{
		{"expiry a day ahead", &entry{kind: KindBytes, expiry: now + int64(24*time.Hour)}, now + int64(24*time.Hour)},
		{"idle deadline an hour ahead", &entry{kind: KindBytes, idle: int64(time.Hour), access: now}, now + int64(time.Hour)},
		{"deadline within TombstoneTTL", &entry{kind: KindBytes, expiry: now + int64(time.Minute)}, now + int64(10*time.Minute)},
		{"no deadline", &entry{kind: KindBytes}, now + int64(30*24*time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := n.buildNext("tok", tc.live, &writeOp{kind: opDelete}, now)
			if err != nil || got == nil || !got.deleted {
				t.Fatalf("buildNext(delete) = %+v, %v; want a tombstone", got, err)
			}
			if got.expiry < tc.want {
				t.Errorf("tombstone expires in %v, want at least %v", time.Duration(got.expiry-now), time.Duration(tc.want-now))
			}
		})
	}
}

// TestReplayedBackupCannotRestoreLogout: someone who can write to the backup
// puts a deleted session's old value back after TombstoneTTL; while the
// session's deadline has not passed, the owner still remembers the deletion
// and does not restore it.
func TestReplayedBackupCannotRestoreLogout(t *testing.T) {
	b := newMemBackup()
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) {
		cfg.Backup = b
		cfg.BackupMode = WriteThrough
		cfg.TombstoneTTL = time.Minute
	}
	n := c.Add()
	c.WaitConverged()
	const tok = "logged-out"
	if err := n.Commit(tok, []byte("user=alice"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	saved := b.m[tok]
	b.mu.Unlock()
	if err := n.Delete(tok); err != nil {
		t.Fatal(err)
	}
	b.Put(t.Context(), tok, saved, time.Time{}) // the replay

	// A sweep two TombstoneTTLs later (the session's hour is not over).
	v := n.view.Load()
	p := v.table.Partition(tok)
	later := time.Now().Add(2 * time.Minute).UnixNano()
	for _, te := range n.parts[p].snapshot() {
		n.sweepEntry(v, p, te, true, later)
	}
	if got, ok, err := n.Find(tok); ok || err != nil {
		t.Fatalf("Find(%s) after a replayed backup = %q, %v, %v; want not found", tok, got, ok, err)
	}
}
