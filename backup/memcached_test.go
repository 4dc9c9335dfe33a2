package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// newBackup returns a Memcached closed at the end of the test.
func newBackup(t testing.TB, cfg Config) *Memcached {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return m
}

// rawGet reads key straight from one memcached, bypassing the codec.
func rawGet(t testing.TB, addr, key string) ([]byte, bool) {
	t.Helper()
	c := memcache.New(addr)
	defer c.Close()
	it, err := c.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("raw Get(%s) on %s: %v", key, addr, err)
	}
	return it.Value, true
}

// rawKeys lists every key memcached at addr holds (lru_crawler metadump).
func rawKeys(t testing.TB, addr string) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("lru_crawler metadump all\r\n")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := sc.Text()
		if line == "END" {
			return keys
		}
		if k, ok := strings.CutPrefix(strings.Fields(line)[0], "key="); ok {
			k, err := url.QueryUnescape(k) // metadump URL-encodes keys
			if err != nil {
				t.Fatalf("metadump key %q: %v", line, err)
			}
			keys = append(keys, k)
		}
	}
	t.Fatalf("metadump on %s: %v", addr, sc.Err())
	return nil
}

func TestRoundTrip(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	values := map[string][]byte{
		"empty":        {},
		"small":        []byte("user=42"),
		"compressible": bytes.Repeat([]byte("cart-item;"), 3000),
		"random":       randomBytes(100 << 10),
	}
	for _, secret := range [][]byte{nil, testSecret} {
		m := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: secret})
		for name, v := range values {
			token := "tok-" + name
			if err := m.Put(ctx, token, v, time.Now().Add(time.Hour)); err != nil {
				t.Fatalf("keyed=%v Put(%s) = %v", secret != nil, name, err)
			}
			got, found, err := m.Get(ctx, token)
			if err != nil || !found || !bytes.Equal(got, v) {
				t.Fatalf("keyed=%v Get(%s) = (%d bytes, %v, %v), want the %d bytes put", secret != nil, name, len(got), found, err, len(v))
			}
			if err := m.Delete(ctx, token); err != nil {
				t.Fatalf("Delete(%s) = %v", name, err)
			}
			if got, found, err := m.Get(ctx, token); got != nil || found || err != nil {
				t.Fatalf("Get(%s) after Delete = (%q, %v, %v), want (nil, false, nil)", name, got, found, err)
			}
		}
		s := m.Stats()
		n := uint64(len(values))
		if s.Puts != n || s.Gets != 2*n || s.Hits != n || s.Misses != n || s.Deletes != n || s.Errors != 0 || s.BytesWritten == 0 {
			t.Fatalf("Stats() = %+v, want %d puts, hits, misses, deletes and no errors", s, n)
		}
	}
}

func TestMissingAndDeleteMissing(t *testing.T) {
	srv := memcachedtest.Start(t)
	m := newBackup(t, Config{Servers: []string{srv.Addr}})
	got, found, err := m.Get(context.Background(), "never-stored")
	if got != nil || found || err != nil {
		t.Fatalf("Get(missing) = (%q, %v, %v), want (nil, false, nil)", got, found, err)
	}
	if err := m.Delete(context.Background(), "never-stored"); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

func TestKeyedStorageHidesTokenAndPlaintext(t *testing.T) {
	srv := memcachedtest.Start(t)
	m := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: testSecret, CompressAbove: -1})
	const token = "SecretSessionToken-4f9a"
	plain := []byte("role=admin;email=alice@example.com")
	if err := m.Put(context.Background(), token, plain, time.Time{}); err != nil {
		t.Fatal(err)
	}
	keys := rawKeys(t, srv.Addr)
	if len(keys) != 1 || strings.Contains(keys[0], token) || !strings.HasPrefix(keys[0], DefaultKeyPrefix) {
		t.Fatalf("memcached keys = %q, want one %q-prefixed key without the token", keys, DefaultKeyPrefix)
	}
	raw, ok := rawGet(t, srv.Addr, keys[0])
	if !ok || bytes.Contains(raw, plain) || bytes.Contains(raw, []byte("admin")) || bytes.Contains(raw, []byte(token)) {
		t.Fatalf("raw item (found %v) = %q, want ciphertext without the plaintext or token", ok, raw)
	}
}

func TestWrongSecretKey(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	a := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: testSecret})
	b := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: []byte("a different thirty-two byte key!")})
	if err := a.Put(ctx, "tok", []byte("alice's session"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Another key hashes the token elsewhere: b simply finds nothing.
	if got, found, err := b.Get(ctx, "tok"); found || err != nil {
		t.Fatalf("other-key Get = (%q, %v, %v), want (nil, false, nil)", got, found, err)
	}
	// Copied under b's key, a's value fails authentication instead of
	// decrypting to garbage.
	raw, _ := rawGet(t, srv.Addr, a.codec.Load().storageKey("tok"))
	rawSet(t, srv.Addr, b.codec.Load().storageKey("tok"), raw)
	if got, _, err := b.Get(ctx, "tok"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other-key Get of a copied value = (%q, %v), want ErrCorrupt", got, err)
	}
	// Nor can one session's value be moved to another's key.
	rawSet(t, srv.Addr, a.codec.Load().storageKey("victim"), raw)
	if got, _, err := a.Get(ctx, "victim"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of a value moved between sessions = (%q, %v), want ErrCorrupt", got, err)
	}
	if s := a.Stats(); s.Errors != 1 {
		t.Fatalf("Stats().Errors = %d, want 1", s.Errors)
	}
}

func rawSet(t testing.TB, addr, key string, value []byte) {
	t.Helper()
	c := memcache.New(addr)
	defer c.Close()
	if err := c.Set(&memcache.Item{Key: key, Value: value}); err != nil {
		t.Fatalf("raw Set(%s): %v", key, err)
	}
}

func TestCompressionShrinksStoredItem(t *testing.T) {
	srv := memcachedtest.Start(t)
	m := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: testSecret})
	data := bytes.Repeat([]byte(`{"item":"sku-1234","qty":1},`), 2000) // 56 KB
	if err := m.Put(context.Background(), "cart", data, time.Time{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := rawGet(t, srv.Addr, m.codec.Load().storageKey("cart"))
	if len(raw) >= len(data)/4 {
		t.Fatalf("stored %d bytes for %d compressible bytes, want under a quarter", len(raw), len(data))
	}
	t.Logf("compressible %d bytes stored as %d", len(data), len(raw))
}

func TestTooLargeStoresNothing(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	longest := strings.Repeat("p", maxPrefixLen) // the worst case for memcached's per-item overhead
	m := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: testSecret, KeyPrefix: longest})
	if err := m.Put(ctx, "big", randomBytes(DefaultMaxItemSize), time.Time{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put(incompressible MaxItemSize bytes) = %v, want ErrTooLarge", err)
	}
	if keys := rawKeys(t, srv.Addr); len(keys) != 0 {
		t.Fatalf("memcached holds %q after ErrTooLarge, want nothing", keys)
	}
	// The largest value that fits is accepted by a default memcached (-I 1m),
	// which checks the per-item overhead allowance.
	fits := randomBytes(DefaultMaxItemSize - headerLen - saltLen - tagLen)
	if err := m.Put(ctx, "fits", fits, time.Time{}); err != nil {
		t.Fatalf("Put(%d bytes, encoded exactly MaxItemSize) = %v, want nil", len(fits), err)
	}
	if got, found, err := m.Get(ctx, "fits"); err != nil || !found || !bytes.Equal(got, fits) {
		t.Fatalf("Get(fits) = (%d bytes, %v, %v), want the value", len(got), found, err)
	}
}

// TestExpiry31Days is the memcached-session-manager trap: a relative TTL
// over 30 days is read as a 1970 date and the item vanishes at once.
func TestExpiry31Days(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	naive := memcache.New(srv.Addr)
	defer naive.Close()
	if err := naive.Set(&memcache.Item{Key: "naive", Value: []byte("x"), Expiration: 31 * 24 * 3600}); err != nil {
		t.Fatal(err)
	}
	if _, err := naive.Get("naive"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("raw item with relative 31-day TTL: Get = %v, want a miss (memcached's absolute-time rule)", err)
	}
	m := newBackup(t, Config{Servers: []string{srv.Addr}})
	if err := m.Put(ctx, "tok", []byte("remember me"), time.Now().Add(31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, found, err := m.Get(ctx, "tok"); err != nil || !found || string(got) != "remember me" {
		t.Fatalf("Get after a 31-day Put = (%q, %v, %v), want the value", got, found, err)
	}
}

func TestExpiryShortAndPast(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	m := newBackup(t, Config{Servers: []string{srv.Addr}})
	if err := m.Put(ctx, "gone", []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "gone", []byte("v2"), time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("Put with a past expiry = %v, want nil", err)
	}
	if _, found, err := m.Get(ctx, "gone"); found || err != nil {
		t.Fatalf("Get after a past-expiry Put = (%v, %v), want the value deleted", found, err)
	}
	testkit.SkipShort(t, "skipping the 1-second expiry in -short mode")
	if err := m.Put(ctx, "short", []byte("v"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "a 1-second item to expire", func() bool {
		_, found, err := m.Get(ctx, "short")
		return err == nil && !found
	})
}
