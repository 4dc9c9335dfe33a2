package backup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

func testRing(t testing.TB, primaries, failover int) *ring {
	t.Helper()
	var servers, spares []string
	for i := range primaries {
		servers = append(servers, fmt.Sprintf("m%d:10.0.0.%d:11211", i, i+1))
	}
	for i := range failover {
		spares = append(spares, fmt.Sprintf("spare%d:10.0.1.%d:11211", i, i+1))
	}
	nodes, err := parseNodes(servers, spares)
	if err != nil {
		t.Fatal(err)
	}
	return newRing(nodes, time.Minute, slog.New(slog.DiscardHandler))
}

func testKeys(n int) []string {
	c, _ := newCodec(DefaultConfig().withDefaults())
	keys := make([]string, n)
	for i := range keys {
		keys[i] = c.storageKey(fmt.Sprintf("token-%d", i))
	}
	return keys
}

func mustPick(t *testing.T, r *ring, key string) int {
	t.Helper()
	i, _, ok := r.pick(key)
	if !ok {
		t.Fatalf("pick(%q): no server", key)
	}
	return i
}

func TestRingBalance(t *testing.T) {
	r := testRing(t, 3, 0)
	keys := testKeys(30000)
	counts := make([]int, 3)
	for _, k := range keys {
		counts[mustPick(t, r, k)]++
	}
	for i, n := range counts {
		if share := float64(n) / float64(len(keys)); share < 0.30 || share > 0.37 {
			t.Errorf("server %d holds %.3f of keys, want about 1/3 (counts %v)", i, share, counts)
		}
	}
}

// TestRingAddServerKeepsKeys measures how many keys stay put when a fourth
// server joins three: ideally 3/4, against about 1/4 for crc32 mod N.
func TestRingAddServerKeepsKeys(t *testing.T) {
	three, four := testRing(t, 3, 0), testRing(t, 4, 0)
	keys := testKeys(20000)
	same := 0
	for _, k := range keys {
		if three.nodes[mustPick(t, three, k)].id == four.nodes[mustPick(t, four, k)].id {
			same++
		}
	}
	kept := float64(same) / float64(len(keys))
	t.Logf("adding a 4th server kept %.1f%% of keys in place (gomemcache's crc32 mod N: %.1f%%)",
		100*kept, 100*crc32Kept(t, keys))
	if kept < 0.70 {
		t.Fatalf("adding a server kept %.3f of keys in place, want >= 0.70", kept)
	}
}

func TestRingDownServerGoesToNext(t *testing.T) {
	r := testRing(t, 3, 1)
	keys := testKeys(3000)
	before := make([]int, len(keys))
	for i, k := range keys {
		var first bool
		before[i], first, _ = r.pick(k)
		if !first || r.nodes[before[i]].failover {
			t.Fatalf("pick(%q) with all up = %d (first %v), want a first-choice primary", k, before[i], first)
		}
	}
	r.markDown(0, io.EOF)
	for i, k := range keys {
		got, first, _ := r.pick(k)
		switch {
		case before[i] != 0 && got != before[i]:
			t.Fatalf("pick(%q) moved from %d to %d though only server 0 is down", k, before[i], got)
		case before[i] == 0 && (got == 0 || first || r.nodes[got].failover):
			t.Fatalf("pick(%q) = %d (first %v), want another primary", k, got, first)
		}
	}
	r.markUp(0) // not expired: a success picked before the failure must not clear it
	if r.isUp(0) {
		t.Fatal("markUp cleared an unexpired down mark")
	}
	r.downUntil[0].Store(1) // expired long ago
	r.markUp(0)
	if r.downUntil[0].Load() != 0 {
		t.Fatal("markUp kept an expired down mark")
	}
	for i, k := range keys {
		if got := mustPick(t, r, k); got != before[i] {
			t.Fatalf("after markUp pick(%q) = %d, want %d", k, got, before[i])
		}
	}
}

func TestRingFailoverOnlyWhenAllPrimariesDown(t *testing.T) {
	r := testRing(t, 2, 2)
	key := testKeys(1)[0]
	r.markDown(0, io.EOF)
	if i := mustPick(t, r, key); i != 1 {
		t.Fatalf("pick with server 0 down = %d, want primary 1", i)
	}
	r.markDown(1, io.EOF)
	i := mustPick(t, r, key)
	if !r.nodes[i].failover {
		t.Fatalf("pick with all primaries down = %d, want a failover server", i)
	}
	r.markDown(2, io.EOF)
	r.markDown(3, io.EOF)
	if _, err := r.PickServer(key); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PickServer with everything down = %v, want ErrUnavailable", err)
	}
}

func TestRingDownExpires(t *testing.T) {
	r := testRing(t, 2, 0)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.markDown(0, io.EOF)
	if r.isUp(0) {
		t.Fatal("isUp(0) right after markDown = true, want false")
	}
	now = now.Add(r.downFor + time.Nanosecond)
	if !r.isUp(0) {
		t.Fatalf("isUp(0) after DownFor = false, want true")
	}
}

func TestRingEachVisitsAll(t *testing.T) {
	r := testRing(t, 3, 1)
	var got []string
	_ = r.Each(func(a net.Addr) error { got = append(got, a.String()); return nil })
	if len(got) != 4 || got[3] != "10.0.1.1:11211" {
		t.Fatalf("Each visited %v, want 3 primaries then the failover server", got)
	}
}

// crc32Kept measures the same move for gomemcache's default ServerList.
func crc32Kept(t *testing.T, keys []string) float64 {
	var three, four memcache.ServerList
	if err := three.SetServers("10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"); err != nil {
		t.Fatal(err)
	}
	if err := four.SetServers("10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211", "10.0.0.4:11211"); err != nil {
		t.Fatal(err)
	}
	same := 0
	for _, k := range keys {
		a, _ := three.PickServer(k)
		b, _ := four.PickServer(k)
		if a.String() == b.String() {
			same++
		}
	}
	return float64(same) / float64(len(keys))
}
