package backup_test

import (
	"context"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/store"
)

// TestFullRestartAfterKeyRotation: a cluster whose backup is keyed from the
// cluster key rotates that key (store.Config.OldSecretKeys) across a
// restart of every node. The sessions it backed up under the old key are
// restored, and a logout under the new key removes the old-key copy, so a
// node that still had only the old key could not bring it back.
func TestFullRestartAfterKeyRotation(t *testing.T) {
	srv := memcachedtest.Start(t)
	c := newCluster(t, []string{srv.Addr}, backup.Config{}, nil) // backup keyed by the store
	c.start(names("a", 3)...)
	want := sessionValues("rot", 200, "v1")
	commitAll(t, c, want, time.Now().Add(time.Hour))
	c.waitDrained(30 * time.Second)
	c.crashAll()

	newKey := []byte("the rotated cluster key: 32 byte")
	c.tweak = func(cfg *store.Config) {
		cfg.SecretKey, cfg.OldSecretKeys = newKey, [][]byte{clusterKey}
	}
	c.start(names("b", 3)...)
	checkValues(t, c, want)

	var gone string
	for tok := range want {
		gone = tok
		break
	}
	if err := c.nodes()[0].Delete(gone); err != nil {
		t.Fatal(err)
	}
	c.waitDrained(30 * time.Second)
	oldOnly, err := backup.New(backup.Config{Servers: []string{srv.Addr}, SecretKey: clusterKey})
	if err != nil {
		t.Fatal(err)
	}
	defer oldOnly.Close()
	if v, found, err := oldOnly.Get(context.Background(), gone); found || err != nil {
		t.Fatalf("old-key Get(%s) after the logout = (%q, %v, %v), want nothing", gone, v, found, err)
	}
}
