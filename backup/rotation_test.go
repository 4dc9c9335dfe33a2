package backup

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
)

var rotatedSecret = []byte("the next thirty-two byte secret!")

// getWant fails unless m.Get(token) finds want (nil: finds nothing).
func getWant(t *testing.T, m *Memcached, name, token string, want []byte) {
	t.Helper()
	got, found, err := m.Get(context.Background(), token)
	switch {
	case err != nil:
		t.Fatalf("%s.Get(%s) = %v", name, token, err)
	case want == nil && found:
		t.Fatalf("%s.Get(%s) = %q, want nothing", name, token, got)
	case want != nil && (!found || !bytes.Equal(got, want)):
		t.Fatalf("%s.Get(%s) = (%q, %v), want %q", name, token, got, found, want)
	}
}

// TestOldSecretKeysReadAndRetire rotates the key of a populated cold tier:
// values written under the old key still load, and writing or deleting a
// session removes its old-key copy, so no node reads a stale value ahead of
// a newer one whichever of the two keys it writes with.
func TestOldSecretKeysReadAndRetire(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	servers := []string{srv.Addr}
	before := newBackup(t, Config{Servers: servers, SecretKey: testSecret})
	for _, tok := range []string{"kept", "rewritten", "deleted", "expired"} {
		if err := before.Put(ctx, tok, []byte(tok+" v1"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// Step 2 of a rotation: the new key writes, the old one is still read.
	after := newBackup(t, Config{Servers: servers, SecretKey: rotatedSecret, OldSecretKeys: [][]byte{testSecret}})
	only := newBackup(t, Config{Servers: servers, SecretKey: rotatedSecret})
	getWant(t, after, "after", "kept", []byte("kept v1"))
	getWant(t, only, "new key only", "kept", nil)

	if err := after.Put(ctx, "rewritten", []byte("rewritten v2"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	getWant(t, after, "after", "rewritten", []byte("rewritten v2"))
	getWant(t, before, "before", "rewritten", nil) // the old-key copy is gone
	if err := after.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	getWant(t, after, "after", "deleted", nil)
	getWant(t, before, "before", "deleted", nil)
	if err := after.Put(ctx, "expired", []byte("x"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	getWant(t, after, "after", "expired", nil)
	getWant(t, before, "before", "expired", nil)

	// Mid-rotation, one node already writes with the new key and another
	// still with the old one: each write removes the other's copy, so both
	// read the newest value.
	lagging := newBackup(t, Config{Servers: servers, SecretKey: testSecret, OldSecretKeys: [][]byte{rotatedSecret}})
	if err := after.Put(ctx, "mixed", []byte("mixed v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := lagging.Put(ctx, "mixed", []byte("mixed v2"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	getWant(t, after, "after", "mixed", []byte("mixed v2"))
	if err := after.Put(ctx, "mixed", []byte("mixed v3"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	getWant(t, lagging, "lagging", "mixed", []byte("mixed v3"))
	copies := 0
	for _, m := range []*Memcached{before, only} {
		if _, ok := rawGet(t, srv.Addr, m.codec.Load().storageKey("mixed")); ok {
			copies++
		}
	}
	if copies != 1 {
		t.Fatalf("memcached holds %d copies of one session, want 1", copies)
	}
	// Each session is under exactly the key its last write used.
	for _, w := range []struct {
		token string
		under *Memcached
		not   *Memcached
	}{{"kept", before, only}, {"rewritten", only, before}} {
		if _, ok := rawGet(t, srv.Addr, w.under.codec.Load().storageKey(w.token)); !ok {
			t.Errorf("%s: no copy under the key it was written with", w.token)
		}
		if _, ok := rawGet(t, srv.Addr, w.not.codec.Load().storageKey(w.token)); ok {
			t.Errorf("%s: a copy under the other key", w.token)
		}
	}
}

// TestUseClusterKeyTakesOldKeys: a backup keyed by the store gets the
// store's OldSecretKeys too.
func TestUseClusterKeyTakesOldKeys(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	old := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: testSecret})
	if err := old.Put(ctx, "tok", []byte("v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	m := newBackup(t, Config{Servers: []string{srv.Addr}})
	if err := m.UseClusterKey(rotatedSecret, testSecret); err != nil {
		t.Fatal(err)
	}
	getWant(t, m, "rotated", "tok", []byte("v1"))
	if err := m.UseClusterKey(rotatedSecret, []byte("short")); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("UseClusterKey with a 5-byte old key = %v, want ErrBadConfig", err)
	}
}

func TestOldSecretKeysValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"without SecretKey", Config{Servers: []string{"127.0.0.1:1"}, OldSecretKeys: [][]byte{testSecret}}},
		{"wrong length", Config{Servers: []string{"127.0.0.1:1"}, SecretKey: testSecret, OldSecretKeys: [][]byte{[]byte("tooshort")}}},
	} {
		if err := tc.cfg.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: Validate() = %v, want ErrBadConfig", tc.name, err)
		}
	}
}

// TestOldSecretKeysListingTheCurrentKey: the current key left among the old
// ones (step 2 of a rotation done halfway) must not make a Put delete what
// it wrote.
func TestOldSecretKeysListingTheCurrentKey(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	m := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: rotatedSecret,
		OldSecretKeys: [][]byte{rotatedSecret, testSecret, testSecret}})
	if err := m.Put(ctx, "tok", []byte("v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	getWant(t, m, "m", "tok", []byte("v1"))
	if n := len(m.codec.Load().old); n != 1 {
		t.Fatalf("%d old keys in use, want 1 (duplicates and the current key dropped)", n)
	}
}
