package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sync"
)

// memBackup is a hand-written in-memory Backup for store-internal tests (the
// memcached implementation lives in package backup, which imports store; its
// own tests run the store against a real memcached).
type memBackup struct {
	mu   sync.Mutex // guards m
	m    map[string][]byte
	gets int
}

func newMemBackup() *memBackup { return &memBackup{m: map[string][]byte{}} }

func (b *memBackup) Put(ctx context.Context, token string, data []byte, expiry time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[token] = append([]byte(nil), data...)
	return nil
}

func (b *memBackup) Get(ctx context.Context, token string) ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gets++
	d, ok := b.m[token]
	return d, ok, nil
}

func (b *memBackup) Delete(ctx context.Context, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, token)
	return nil
}

func (b *memBackup) Close() error { return nil }

// TestPassivation fills nodes past MaxBytes with a cold tier: instead of
// refusing with ErrFull, they drop the bodies of backed-up sessions and load
// them back when used, losing nothing.
func TestPassivation(t *testing.T) {
	b := newMemBackup()
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) {
		cfg.Backup = b
		cfg.BackupMode = WriteThrough
		cfg.MaxBytes = 256 << 10
	}
	for range 3 {
		c.Add()
	}
	c.WaitConverged()
	n := c.Nodes()[0]
	val := make([]byte, 2<<10)
	const count = 600 // ~1.2 MiB of bodies per copy: far past 3 x 256 KiB
	for i := range count {
		copy(val, fmt.Sprintf("session-%04d", i))
		if err := n.Commit(fmt.Sprintf("p-%04d", i), val, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit %d = %v (passivation should have made room)", i, err)
		}
	}
	var passivated uint64
	for _, m := range c.Nodes() {
		s := m.Stats()
		passivated += s.Backup.Passivated
		if s.BytesHeld > 256<<10+8<<10 {
			t.Errorf("%s holds %d bytes, limit %d", m.Name(), s.BytesHeld, 256<<10)
		}
	}
	if passivated == 0 {
		t.Fatal("no session was passivated")
	}
	for i := range count {
		got, ok, err := c.Nodes()[i%3].FindCtx(context.Background(), fmt.Sprintf("p-%04d", i))
		want := fmt.Sprintf("session-%04d", i)
		if err != nil || !ok || string(got[:len(want)]) != want {
			t.Fatalf("Find(p-%04d) = %q..., %v, %v; want %s", i, got[:min(len(got), 12)], ok, err, want)
		}
	}
	t.Logf("passivated %d session bodies", passivated)
}
