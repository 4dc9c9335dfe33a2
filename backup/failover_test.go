package backup

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// startServers starts n memcached processes.
func startServers(t *testing.T, n int) []*memcachedtest.Server {
	t.Helper()
	srvs := make([]*memcachedtest.Server, n)
	for i := range srvs {
		srvs[i] = memcachedtest.Start(t)
	}
	return srvs
}

func addrs(srvs []*memcachedtest.Server) []string {
	var a []string
	for _, s := range srvs {
		a = append(a, s.Addr)
	}
	return a
}

// tokensOn returns n tokens whose first choice in m is server idx.
func tokensOn(t *testing.T, m *Memcached, idx, n int) []string {
	t.Helper()
	var toks []string
	for i := 0; len(toks) < n; i++ {
		tok := fmt.Sprintf("token-%d", i)
		if got, first, _ := m.ring.pick(m.codec.Load().storageKey(tok)); got == idx && first {
			toks = append(toks, tok)
		}
	}
	return toks
}

// holder returns the indexes (within srvs) of the servers holding token.
func holder(t *testing.T, m *Memcached, srvs []*memcachedtest.Server, token string) []int {
	t.Helper()
	var on []int
	for i, s := range srvs {
		if _, ok := rawGet(t, s.Addr, m.codec.Load().storageKey(token)); ok {
			on = append(on, i)
		}
	}
	return on
}

func TestDownServerKeysGoToNext(t *testing.T) {
	srvs := startServers(t, 3)
	ctx := context.Background()
	m := newBackup(t, Config{Servers: addrs(srvs), Timeout: 500 * time.Millisecond, DownFor: time.Hour})
	toks := tokensOn(t, m, 0, 20)
	srvs[0].Stop()
	for _, tok := range toks {
		if err := m.Put(ctx, tok, []byte(tok), time.Time{}); err != nil {
			t.Fatalf("Put(%s) with its first choice stopped = %v", tok, err)
		}
		next, _, _ := m.ring.pick(m.codec.Load().storageKey(tok)) // server 0 is marked down now
		if on := holder(t, m, srvs[1:], tok); len(on) != 1 || on[0]+1 != next {
			t.Fatalf("%s stored on servers %v (of 1..2), want only on its next choice %d", tok, on, next)
		}
		if got, found, err := m.Get(ctx, tok); err != nil || !found || string(got) != tok {
			t.Fatalf("Get(%s) during failover = (%q, %v, %v), want the value", tok, got, found, err)
		}
	}
	s := m.Stats()
	if s.Servers[0].Up || s.Failovers != uint64(2*len(toks)) {
		t.Fatalf("Stats() = %+v, want server 0 down and %d failovers", s, 2*len(toks))
	}
}

// TestGetFindsValueWrittenDuringFailover: one replica wrote while the first
// choice was down; another replica, unaware of the outage, still finds it.
func TestGetFindsValueWrittenDuringFailover(t *testing.T) {
	srvs := startServers(t, 3)
	ctx := context.Background()
	cfg := Config{Servers: addrs(srvs), SecretKey: testSecret, Timeout: 500 * time.Millisecond}
	writer, reader := newBackup(t, cfg), newBackup(t, cfg)
	tok := tokensOn(t, writer, 1, 1)[0]
	srvs[1].Stop()
	if err := writer.Put(ctx, tok, []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, found, err := reader.Get(ctx, tok)
	if err != nil || !found || string(got) != "v" {
		t.Fatalf("Get from a replica unaware of the outage = (%q, %v, %v), want \"v\"", got, found, err)
	}
	if s := reader.Stats(); s.Servers[1].Up || s.Failovers != 1 {
		t.Fatalf("reader Stats() = %+v, want server 1 marked down and 1 failover", s)
	}
}

// TestDeleteSweepsStandInCopies: after the first choice returns, Delete
// must also remove the copy written to the stand-in, or a later outage
// would resurrect the deleted session.
func TestDeleteSweepsStandInCopies(t *testing.T) {
	srvs := startServers(t, 3)
	ctx := context.Background()
	m := newBackup(t, Config{Servers: addrs(srvs), Timeout: 500 * time.Millisecond, DownFor: 50 * time.Millisecond})
	tok := tokensOn(t, m, 2, 1)[0]
	srvs[2].Stop()
	if err := m.Put(ctx, tok, []byte("old"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	srvs[2].Restart()
	testkit.Eventually(t, 5*time.Second, "Put to reach the restarted first choice", func() bool {
		err := m.Put(ctx, tok, []byte("new"), time.Time{})
		return err == nil && len(holder(t, m, srvs[2:], tok)) == 1
	})
	if on := holder(t, m, srvs, tok); len(on) != 2 {
		t.Fatalf("before Delete %s is on servers %v, want first choice and stand-in", tok, on)
	}
	if err := m.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if on := holder(t, m, srvs, tok); len(on) != 0 {
		t.Fatalf("after Delete %s is still on servers %v, want none", tok, on)
	}
}

func TestFailoverListOnlyWhenAllPrimariesDown(t *testing.T) {
	srvs := startServers(t, 3)
	ctx := context.Background()
	m := newBackup(t, Config{
		Servers:  []string{"a:" + srvs[0].Addr, "b:" + srvs[1].Addr},
		Failover: []string{"spare:" + srvs[2].Addr},
		Timeout:  500 * time.Millisecond,
		DownFor:  time.Hour,
	})
	for i := range 20 {
		if err := m.Put(ctx, fmt.Sprint("up-", i), []byte("v"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if keys := rawKeys(t, srvs[2].Addr); len(keys) != 0 {
		t.Fatalf("failover server holds %d keys while primaries are up, want 0", len(keys))
	}
	srvs[0].Stop()
	srvs[1].Stop()
	if err := m.Put(ctx, "during", []byte("v"), time.Time{}); err != nil {
		t.Fatalf("Put with all primaries down = %v, want it on the failover server", err)
	}
	if on := holder(t, m, srvs[2:], "during"); len(on) != 1 {
		t.Fatalf("failover server does not hold the value written during the outage")
	}
	if got, found, err := m.Get(ctx, "during"); err != nil || !found || string(got) != "v" {
		t.Fatalf("Get with all primaries down = (%q, %v, %v), want \"v\"", got, found, err)
	}
	srvs[2].Stop()
	if err := m.Put(ctx, "nowhere", []byte("v"), time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put with every server down = %v, want ErrUnavailable", err)
	}
}
