package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestEvictUnprotectedKeepsLoggedInUsers floods a small node with anonymous
// sessions: with EvictUnprotected every one of them is eventually written
// (the least recently used ones are ended to make room), no logged-in
// session is lost, and the evictions are counted.
func TestEvictUnprotectedKeepsLoggedInUsers(t *testing.T) {
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) {
		cfg.MaxBytes = 512 << 10
		cfg.Pressure = EvictUnprotected
		cfg.ProtectField = "user"
		cfg.SweepInterval = 20 * time.Millisecond
	}
	n := c.Add()
	c.WaitConverged()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := range 20 {
		if _, err := n.Apply(ctx, fmt.Sprintf("user-%d", i), Mutation{Set: map[string][]byte{"user": []byte("u"), "cart": make([]byte, 1024)}, Expiry: exp}); err != nil {
			t.Fatal(err)
		}
	}
	blob := make([]byte, 4<<10)
	deadline := time.Now().Add(30 * time.Second)
	for i := range 500 { // about 2 MiB: four times MaxBytes
		tok := fmt.Sprintf("anon-%d", i)
		for {
			_, err := n.Apply(ctx, tok, Mutation{Set: map[string][]byte{"cart": blob}, Expiry: exp})
			if err == nil {
				break
			}
			if !errors.Is(err, ErrFull) || time.Now().After(deadline) {
				t.Fatalf("Apply(%s) = %v; want room made by eviction", tok, err)
			}
			time.Sleep(5 * time.Millisecond) // the next sweep makes room
		}
	}
	for i := range 20 {
		if _, ok, err := n.Load(ctx, fmt.Sprintf("user-%d", i)); !ok || err != nil {
			t.Errorf("logged-in session user-%d = %v, %v after the flood; want it kept", i, ok, err)
		}
	}
	s := n.Stats()
	if s.Evicted == 0 {
		t.Error("Stats.Evicted = 0 after a flood four times MaxBytes")
	}
	if _, ok, _ := n.Load(ctx, "anon-499"); !ok {
		t.Error("the newest anonymous session was evicted, want the least recently used ones first")
	}
}
