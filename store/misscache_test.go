package store

import (
	"fmt"
	"testing"
	"time"
)

// TestUnknownTokensCostOneBackupGet: requests for a token the backup does
// not have ask the backup once, not once per request.
func TestUnknownTokensCostOneBackupGet(t *testing.T) {
	b := newMemBackup()
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) { cfg.Backup = b }
	n := c.Add()
	c.WaitConverged()
	for i := range 50 {
		if _, ok, err := n.Find("unknown-token"); ok || err != nil {
			t.Fatalf("Find #%d = %v, %v; want not found", i, ok, err)
		}
	}
	b.mu.Lock()
	gets := b.gets
	b.mu.Unlock()
	if gets != 1 {
		t.Errorf("backup Gets for 50 Finds of one unknown token = %d, want 1", gets)
	}
}

func TestMissCacheBounded(t *testing.T) {
	var c missCache
	now := time.Now()
	for i := range missCacheSize + 100 {
		c.addSince(fmt.Sprintf("t-%d", i), now, c.generation())
	}
	if len(c.at) != missCacheSize {
		t.Errorf("cache holds %d tokens, want the bound %d", len(c.at), missCacheSize)
	}
	if c.has("t-0", now) || !c.has(fmt.Sprintf("t-%d", missCacheSize+99), now) {
		t.Error("the oldest token is remembered or the newest forgotten")
	}
	if c.has(fmt.Sprintf("t-%d", missCacheSize+99), now.Add(missTTL)) {
		t.Error("a miss is remembered past missTTL")
	}
	c.forget("t-200")
	if c.has("t-200", now) {
		t.Error("a forgotten token is still remembered")
	}
}

// TestMissCacheIgnoresMissBeforeWrite: a Get that started before the token
// was written to the backup may report it missing after the write landed;
// that miss is not remembered, or the node would believe for a second that
// a session the backup holds does not exist.
func TestMissCacheIgnoresMissBeforeWrite(t *testing.T) {
	var c missCache
	now := time.Now()
	gen := c.generation() // the Get starts
	c.forget("x")         // a write of x to the backup starts meanwhile
	c.addSince("x", now, gen)
	if c.has("x", now) {
		t.Error("a miss seen before a write of the token is remembered after it")
	}
	c.addSince("x", now, c.generation())
	if !c.has("x", now) {
		t.Error("a miss seen after the last write is not remembered")
	}
}
