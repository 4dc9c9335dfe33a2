package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// modes are the two backup modes, for tests that hold in both.
var modes = []struct {
	name string
	mode store.BackupMode
}{
	{"write-behind", store.WriteBehind},
	{"write-through", store.WriteThrough},
}

func withMode(mode store.BackupMode) func(*store.Config) {
	return func(cfg *store.Config) { cfg.BackupMode = mode }
}

// TestExpiryBeyond30Days: memcached reads an expiration over 30 days as an
// absolute time, so a relative one would expire the item at once. Sessions
// that live 40 days (absolute expiry) or 31 idle days survive a full
// restart with their deadlines intact.
func TestExpiryBeyond30Days(t *testing.T) {
	srv := memcachedtest.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: clusterKey}, withMode(m.mode))
			c.start(names("a", 2)...)
			n := c.nodes()[0]
			exp := time.Now().Add(40 * 24 * time.Hour)
			if err := n.Commit("forty-days", []byte("v"), exp); err != nil {
				t.Fatal(err)
			}
			mut := store.Mutation{Set: map[string][]byte{"k": []byte("v")}, Expiry: exp.Add(20 * 24 * time.Hour), Idle: 31 * 24 * time.Hour}
			if _, err := n.Apply(context.Background(), "idle-31-days", mut); err != nil {
				t.Fatal(err)
			}
			c.restart(2, "b")
			n = c.nodes()[1]
			if r, ok := load(t, n, "forty-days"); !ok || string(r.Value) != "v" || !r.Expiry.Equal(exp) {
				t.Errorf("Load(forty-days) after restart = (%+v, %v), want value \"v\" expiring %v", r, ok, exp)
			}
			if r, ok := load(t, n, "idle-31-days"); !ok || string(r.Fields["k"]) != "v" || r.Idle != mut.Idle || !r.Expiry.Equal(mut.Expiry) {
				t.Errorf("Load(idle-31-days) after restart = (%+v, %v), want field k=v, idle %v, expiry %v", r, ok, mut.Idle, mut.Expiry)
			}
		})
	}
}

// TestExpiredSessionsNotRestored: sessions whose absolute or idle deadline
// passed are not restored, while touching an idle session moves the
// deadline stored in memcached too.
func TestExpiredSessionsNotRestored(t *testing.T) {
	srv := memcachedtest.Start(t)
	c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: clusterKey}, nil)
	c.start(names("a", 2)...)
	n := c.nodes()[0]
	ctx := context.Background()
	start := time.Now()
	set := map[string][]byte{"k": []byte("v")}
	if err := n.Commit("short", []byte("v"), start.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "idle", store.Mutation{Set: set, Idle: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "touched", store.Mutation{Set: set, Idle: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := n.Commit("long", []byte("v"), start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Let "short" and "idle" expire: a deadline passing is the condition.
	testkit.Eventually(t, 10*time.Second, "deadlines to pass", func() bool { return time.Since(start) > 1500*time.Millisecond })
	touched, err := n.Apply(ctx, "touched", store.Mutation{Touch: true})
	if err != nil || touched.LastAccess.Before(start.Add(1500*time.Millisecond)) {
		t.Fatalf("Touch = (%+v, %v), want a later LastAccess", touched, err)
	}

	c.restart(2, "b")
	n = c.nodes()[1]
	for _, tok := range []string{"short", "idle"} {
		if r, ok := load(t, n, tok); ok {
			t.Errorf("Load(%s) after its deadline and a restart = %+v, want not found", tok, r)
		}
	}
	if r, ok := load(t, n, "touched"); !ok || !r.LastAccess.Equal(touched.LastAccess) {
		t.Errorf("Load(touched) after restart = (%+v, %v), want LastAccess %v from the last touch", r, ok, touched.LastAccess)
	}
	if _, ok := load(t, n, "long"); !ok {
		t.Errorf("Load(long) after restart: not found, want it restored")
	}
}

// TestDestroyAndRenewSurviveRestart: Delete removes the backup copy, so
// neither a destroyed session nor the old token of a renewed one (scs
// RenewToken: commit under a new token, delete the old) comes back after a
// full restart, even when it was deleted while only memcached held it.
func TestDestroyAndRenewSurviveRestart(t *testing.T) {
	srv := memcachedtest.Start(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			bcfg := backup.Config{SecretKey: clusterKey}
			c := newCluster(t, []string{srv.Addr}, bcfg, withMode(m.mode))
			c.start(names("a", 2)...)
			n := c.nodes()[0]
			exp := time.Now().Add(time.Hour)
			for _, tok := range []string{"destroyed", "old", "cold", "kept"} {
				if err := n.Commit(tok, []byte(tok+"-data"), exp); err != nil {
					t.Fatal(err)
				}
			}
			c.waitDrained(10 * time.Second)
			if err := n.Delete("destroyed"); err != nil {
				t.Fatal(err)
			}
			if err := n.Commit("new", []byte("old-data"), exp); err != nil {
				t.Fatal(err)
			}
			if err := n.Delete("old"); err != nil {
				t.Fatal(err)
			}

			c.restart(2, "b")
			if err := c.nodes()[1].Delete("cold"); err != nil { // only in memcached now
				t.Fatal(err)
			}
			c.restart(2, "c")
			checkValues(t, c, map[string]string{"destroyed": "", "old": "", "cold": "", "new": "old-data", "kept": "kept-data"})

			mc, err := backup.New(c.backupCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer mc.Close()
			for _, tok := range []string{"destroyed", "old", "cold"} {
				if raw, ok := backup.RawGet(t, srv.Addr, backup.StorageKey(mc, tok)); ok {
					t.Errorf("memcached still holds %d bytes for deleted session %q", len(raw), tok)
				}
			}
		})
	}
}

// TestEncryptedInMemcached: with a keyed store, whether or not the backup
// was given the key itself, nothing memcached holds (every key, listed with
// lru_crawler metadump) contains a token or a session's plaintext. With an
// insecure store and no backup key the same check finds the plaintext, so
// it would notice.
func TestEncryptedInMemcached(t *testing.T) {
	sessions := map[string][]byte{
		"token-alpha-7f3c": []byte("user=alice;role=admin"),
		"token-bravo-91ad": bytes.Repeat([]byte("user=bob;cart=sku-1234;"), 200), // compressed, then sealed
	}
	for _, tc := range []struct {
		name      string
		backupKey []byte
		tweak     func(*store.Config)
		sealed    bool
	}{
		{"backup keyed", clusterKey, nil, true},
		{"backup key derived from the store's", nil, nil, true},
		{"insecure store, no backup key", nil, insecureStore, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := memcachedtest.Start(t)
			c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: tc.backupKey}, tc.tweak)
			c.start(names("a", 2)...)
			n := c.nodes()[0]
			for tok, v := range sessions {
				if err := n.Commit(tok, v, time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := n.Apply(context.Background(), "token-fields-22e0", store.Mutation{Set: map[string][]byte{"email": []byte("carol@example.com")}}); err != nil {
				t.Fatal(err)
			}
			c.waitDrained(10 * time.Second)

			mc, err := backup.New(c.backupCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer mc.Close()
			if tc.tweak == nil {
				mc.UseClusterKey(clusterKey) // as the store did with its own
			}
			keys := backup.RawKeys(t, srv.Addr)
			for tok := range sessions {
				if k := backup.StorageKey(mc, tok); !contains(keys, k) {
					t.Fatalf("memcached keys %q lack %q, the key of %s", keys, k, tok)
				}
			}
			secrets := [][]byte{[]byte("alice"), []byte("bob"), []byte("carol@example.com"), []byte("token-")}
			leaks := 0
			for _, k := range keys {
				raw, _ := backup.RawGet(t, srv.Addr, k)
				for _, s := range secrets {
					if strings.Contains(k, string(s)) || bytes.Contains(raw, s) {
						leaks++
					}
				}
			}
			if tc.sealed && leaks > 0 {
				t.Fatalf("%d plaintext or token matches in memcached's %d items, want none", leaks, len(keys))
			}
			if !tc.sealed && leaks == 0 {
				t.Fatalf("no plaintext found in memcached's %d unencrypted items: the check is blind", len(keys))
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWrongKeyCannotRead: a cluster whose backup has another SecretKey, or
// none (and no store key to derive one from), restores nothing another key wrote, and never garbage, not even
// when someone with write access to memcached copies the sealed value
// under the key that cluster looks up.
func TestWrongKeyCannotRead(t *testing.T) {
	srv := memcachedtest.Start(t)
	right := backup.Config{SecretKey: clusterKey}
	c := newCluster(t, []string{srv.Addr}, right, nil)
	c.start("a")
	if err := c.nodes()[0].Commit("tok", []byte("alice's session"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.waitDrained(10 * time.Second)
	c.crashAll()

	wrongKey := []byte("another thirty-two byte secret!!")
	rightMC, err := backup.New(backup.Config{Servers: []string{srv.Addr}, SecretKey: clusterKey})
	if err != nil {
		t.Fatal(err)
	}
	defer rightMC.Close()
	sealed, ok := backup.RawGet(t, srv.Addr, backup.StorageKey(rightMC, "tok"))
	if !ok {
		t.Fatal("the session is not in memcached")
	}
	for _, key := range [][]byte{wrongKey, nil} {
		var tweak func(*store.Config)
		if key == nil {
			tweak = insecureStore // a keyed store would key its backup with clusterKey
		}
		wrong := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: key}, tweak)
		wrong.start("w")
		if v, ok, err := wrong.nodes()[0].Find("tok"); ok || err != nil {
			t.Errorf("Find with backup key %q = (%q, %v, %v), want not found", key, v, ok, err)
		}
		mc, err := backup.New(backup.Config{Servers: []string{srv.Addr}, SecretKey: key})
		if err != nil {
			t.Fatal(err)
		}
		backup.RawSet(t, srv.Addr, backup.StorageKey(mc, "tok"), sealed)
		mc.Close()
		// The copy fails authentication: the restore fails, and a failed
		// restore reads as a miss.
		if v, ok, err := wrong.nodes()[0].Find("tok"); ok || err != nil {
			t.Errorf("Find with backup key %q of a copied sealed value = (%q, %v, %v), want not found", key, v, ok, err)
		}
		wrong.crashAll()
	}
	c.start("a")
	checkValues(t, c, map[string]string{"tok": "alice's session"})
}

// TestOversizedValues: a value the store accepts but memcached cannot hold
// (incompressible, over the backup's MaxItemSize once sealed) fails a
// write-through write with an error that says so, and changes nothing.
// In write-behind mode the write succeeds in the cluster, the backup gives
// up on that version at once, and other sessions' backups are not held
// up.
func TestOversizedValues(t *testing.T) {
	srv := memcachedtest.Start(t)
	big := make([]byte, backup.DefaultMaxItemSize-16) // under store's MaxValueBytes (1 MiB)
	rand.Read(big)
	exp := time.Now().Add(time.Hour)

	t.Run("write-through", func(t *testing.T) {
		c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: clusterKey}, withMode(store.WriteThrough))
		c.start(names("a", 2)...)
		for _, n := range c.nodes() { // owner and forwarding node
			// store.ErrTooLarge, which the caller can act on, crosses the
			// wire from the owner; the rest survives as text.
			err := n.Commit("big", big, exp)
			if !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), "backup failed") || !strings.Contains(err.Error(), "exceeds MaxItemSize") {
				t.Errorf("Commit(%d bytes) via %s = %v, want store.ErrTooLarge saying the backup failed as it exceeds MaxItemSize", len(big), n.Name(), err)
			}
			if v, ok, err := n.Find("big"); ok || err != nil {
				t.Errorf("Find(big) after the failed Commit = (%d bytes, %v, %v), want not found", len(v), ok, err)
			}
		}
		tooBig := make([]byte, store.DefaultConfig().MaxValueBytes+1)
		if err := c.nodes()[0].Commit("too-big", tooBig, exp); !errors.Is(err, store.ErrTooLarge) || errors.Is(err, store.ErrBackup) {
			t.Errorf("Commit(%d bytes) = %v, want store.ErrTooLarge from the store itself", len(tooBig), err)
		}
	})

	t.Run("write-behind", func(t *testing.T) {
		c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: clusterKey}, func(cfg *store.Config) {
			cfg.BackupDelay = 50 * time.Millisecond
		})
		c.start("a")
		n := c.nodes()[0]
		if err := n.Commit("big", big, exp); err != nil {
			t.Fatalf("write-behind Commit(%d bytes) = %v, want nil: the cluster holds it", len(big), err)
		}
		c.waitDrained(10 * time.Second) // given up on, not retried forever
		if s := n.Stats().Backup; s.Dropped != 1 {
			t.Fatalf("backup stats %+v, want the oversized version counted as Dropped", s)
		}
		// No backoff caused by the oversized session: a write right after
		// it reaches memcached within a few write-behind delays.
		written := time.Now()
		if err := n.Commit("small", []byte("v"), exp); err != nil {
			t.Fatal(err)
		}
		c.waitDrained(10 * time.Second)
		if d := time.Since(written); d > 2*time.Second {
			t.Errorf("backing up a small session after an oversized one took %v, want a few BackupDelays", d)
		}
		c.crashAll()
		c.start("b")
		checkValues(t, c, map[string]string{"big": "", "small": "v"})
	})
}
