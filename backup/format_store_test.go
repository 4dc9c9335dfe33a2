package backup_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/store"
)

// insecureStore runs the store without a key: the only way, since a keyed
// store keys its backup, to have unkeyed backup values.
func insecureStore(cfg *store.Config) { cfg.SecretKey, cfg.Insecure = nil, true }

// TestGoldenValuesLoad: values written by the first release (backup value
// format 1, store entry formats 1 and 2, plain and sealed) are read back
// forever. The files in testdata/golden are those exact bytes; a node
// restores each from memcached on a miss.
func TestGoldenValuesLoad(t *testing.T) {
	golden := []struct {
		file, token string
		keyed       bool
		value       []byte            // KindBytes
		fields      map[string][]byte // KindFields
	}{
		{"v1-format1-plain.bin", "golden-token-format-1", false, []byte("golden session, format 1"), nil},
		{"v1-format1-keyed.bin", "golden-token-format-1", true, []byte("golden session, format 1"), nil},
		{"v1-format2-plain.bin", "golden-token-format-2", false, nil, map[string][]byte{"user": []byte("alice"), "cart": []byte("3 items")}},
		{"v1-format2-keyed.bin", "golden-token-format-2", true, nil, map[string][]byte{"user": []byte("alice"), "cart": []byte("3 items")}},
	}
	for _, g := range golden {
		t.Run(g.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "golden", g.file))
			if err != nil {
				t.Fatal(err)
			}
			srv := memcachedtest.Start(t)
			bcfg, tweak := backup.Config{SecretKey: clusterKey}, func(*store.Config) {}
			if !g.keyed {
				bcfg, tweak = backup.Config{}, insecureStore
			}
			c := newCluster(t, []string{srv.Addr}, bcfg, tweak)
			c.start("a")
			mc, err := backup.New(c.backupCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer mc.Close()
			backup.RawSet(t, srv.Addr, backup.StorageKey(mc, g.token), raw)
			rec, ok, err := c.nodes()[0].Load(context.Background(), g.token)
			if err != nil || !ok {
				t.Fatalf("Load(%s) = %v, %v; want the golden session", g.token, ok, err)
			}
			if g.value != nil && !bytes.Equal(rec.Value, g.value) {
				t.Errorf("Load(%s).Value = %q, want %q", g.token, rec.Value, g.value)
			}
			for k, want := range g.fields {
				if got := rec.Fields[k]; !bytes.Equal(got, want) {
					t.Errorf("Load(%s).Fields[%s] = %q, want %q", g.token, k, got, want)
				}
			}
		})
	}
}

// TestKeyedClusterKeysItsBackup: a keyed store whose backup was given no
// key of its own derives the backup key from the cluster key, so a value
// planted under the plain hash of a chosen token (anyone with write access
// to memcached can do that) does not load as a session.
func TestKeyedClusterKeysItsBackup(t *testing.T) {
	srv := memcachedtest.Start(t)
	// The planted value: a valid unkeyed value for the chosen token, the
	// first release's format (a golden file, renamed by its token).
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", "v1-format1-plain.bin"))
	if err != nil {
		t.Fatal(err)
	}
	unkeyed, err := backup.New(backup.Config{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer unkeyed.Close()
	const chosen = "golden-token-format-1"
	backup.RawSet(t, srv.Addr, backup.StorageKey(unkeyed, chosen), raw)

	c := newCluster(t, []string{srv.Addr}, backup.Config{}, nil) // store keyed, backup not
	c.start("a")
	n := c.nodes()[0]
	if _, ok, err := n.Find(chosen); ok {
		t.Fatalf("Find(%s) = found (err %v): a value planted without the key loaded as a session", chosen, err)
	}
	// And what the cluster writes is sealed: the plaintext is nowhere.
	if err := n.Commit("token-sealed-1", []byte("user=alice"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.waitDrained(10 * time.Second)
	for _, k := range backup.RawKeys(t, srv.Addr) {
		if v, _ := backup.RawGet(t, srv.Addr, k); bytes.Contains(v, []byte("alice")) && !bytes.Equal(v, raw) {
			t.Errorf("memcached item %s holds the plaintext %q", k, v)
		}
	}
}
