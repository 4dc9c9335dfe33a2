package memstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

var bg = context.Background()

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClocked() (*Store, *clock) {
	s, c := New(), &clock{t: time.Unix(1_900_000_000, 0)}
	s.SetClock(c.now)
	return s, c
}

func TestApplyPreconditions(t *testing.T) {
	s, _ := newClocked()
	set := func(v string) map[string][]byte { return map[string][]byte{"k": []byte(v)} }
	r, err := s.Apply(bg, "t", store.Mutation{Create: true, Set: set("1")})
	if err != nil || r.Version != 1 || r.Kind != store.KindFields {
		t.Fatalf("create = %+v, %v", r, err)
	}
	tests := []struct {
		name string
		m    store.Mutation
		want error
	}{
		{"create existing", store.Mutation{Create: true, Set: set("x")}, store.ErrConflict},
		{"wrong version", store.Mutation{IfVersion: 7, Set: set("x")}, store.ErrConflict},
		{"no lease", store.Mutation{Lease: 3, Set: set("x")}, store.ErrLeaseLost},
		{"right version", store.Mutation{IfVersion: 1, Set: set("2")}, nil},
		{"if exists, present", store.Mutation{IfExists: true, Set: set("3")}, nil},
	}
	for _, tc := range tests {
		if _, err := s.Apply(bg, "t", tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: Apply = %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, m := range []store.Mutation{{IfExists: true, Set: set("x")}, {IfExists: true, Touch: true}} {
		if _, err := s.Apply(bg, "absent", m); !errors.Is(err, store.ErrNotFound) || s.Len() != 1 {
			t.Errorf("Apply(absent, %+v) = %v with %d sessions, want ErrNotFound and nothing created", m, err, s.Len())
		}
	}
	s.Put("b", store.Record{Kind: store.KindBytes, Value: []byte("v"), Version: 1})
	if _, err := s.Apply(bg, "b", store.Mutation{Set: set("x")}); !errors.Is(err, store.ErrKindMismatch) {
		t.Errorf("apply to KindBytes = %v, want ErrKindMismatch", err)
	}
	if r, err := s.Apply(bg, "absent", store.Mutation{Touch: true}); err != nil || r.Version != 0 || s.Len() != 2 {
		t.Errorf("bare Touch on absent = %+v, %v; want nothing created", r, err)
	}
}

func TestDeltasMerge(t *testing.T) {
	s, _ := newClocked()
	s.Apply(bg, "t", store.Mutation{Set: map[string][]byte{"a": []byte("1"), "b": []byte("1")}})
	s.Apply(bg, "t", store.Mutation{Set: map[string][]byte{"a": []byte("2")}})
	r, _ := s.Apply(bg, "t", store.Mutation{Delete: []string{"b"}, Set: map[string][]byte{"c": []byte("3")}})
	if len(r.Fields) != 2 || string(r.Fields["a"]) != "2" || string(r.Fields["c"]) != "3" || r.Version != 3 {
		t.Errorf("after deltas: %+v", r)
	}
	r, _ = s.Apply(bg, "t", store.Mutation{Clear: true, Set: map[string][]byte{"d": []byte("4")}})
	if len(r.Fields) != 1 {
		t.Errorf("after Clear+Set: %v", r.Fields)
	}
}

func TestExpiry(t *testing.T) {
	s, c := newClocked()
	var fired []string
	s.OnExpire(func(tok string, _ store.Record) { fired = append(fired, tok) })
	now := c.now()
	s.Apply(bg, "abs", store.Mutation{Set: map[string][]byte{"k": nil}, Expiry: now.Add(time.Hour)})
	s.Apply(bg, "idle", store.Mutation{Set: map[string][]byte{"k": nil}, Expiry: now.Add(time.Hour), Idle: time.Minute})
	c.add(50 * time.Second)
	s.Apply(bg, "idle", store.Mutation{Touch: true})
	c.add(50 * time.Second)
	if _, ok, _ := s.Load(bg, "idle"); !ok {
		t.Errorf("touched session expired early")
	}
	c.add(20 * time.Second)
	if _, ok, _ := s.Load(bg, "idle"); ok {
		t.Errorf("idle session still loadable past its idle deadline")
	}
	if _, err := s.Apply(bg, "idle", store.Mutation{IfExists: true, Set: map[string][]byte{"k": nil}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IfExists write to an expired session = %v, want ErrNotFound", err)
	}
	c.add(time.Hour)
	if _, ok, _ := s.Load(bg, "abs"); ok {
		t.Errorf("session loadable past its absolute expiry")
	}
	if n := s.Sweep(); n != 2 || len(fired) != 2 || s.Sweep() != 0 {
		t.Errorf("Sweep = %d, fired %v; want 2 once", n, fired)
	}
}

func TestLocks(t *testing.T) {
	s, c := newClocked()
	l1, err := s.Lock(bg, "t", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, "t", time.Second); !errors.Is(err, store.ErrLocked) {
		t.Errorf("second Lock = %v, want ErrLocked", err)
	}
	got := make(chan uint64)
	go func() {
		l, _ := s.Lock(bg, "t", time.Second)
		got <- l
	}()
	if _, err := s.Apply(bg, "t", store.Mutation{Lease: l1, Set: map[string][]byte{"k": nil}}); err != nil {
		t.Errorf("write with held lease: %v", err)
	}
	s.Unlock(bg, "t", l1)
	l2 := <-got
	if l2 == 0 || l2 == l1 {
		t.Fatalf("waiter got lease %d", l2)
	}
	c.add(2 * time.Second) // l2's holder "crashed": the lease expires
	if _, err := s.Apply(bg, "t", store.Mutation{Lease: l2, Set: map[string][]byte{"k": nil}}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("write with expired lease = %v, want ErrLeaseLost", err)
	}
	if _, err := s.Lock(bg, "t", time.Second); err != nil {
		t.Errorf("Lock after ttl expiry: %v", err)
	}
	if err := s.Unlock(bg, "t", l2); err != nil {
		t.Errorf("Unlock of a lost lease = %v, want nil", err)
	}
}

func TestFaults(t *testing.T) {
	s := New()
	s.Fail(OpLoad, store.ErrUnavailable)
	if _, _, err := s.Load(bg, "t"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Load with fault = %v", err)
	}
	s.Fail(OpLoad, nil)
	s.SetDelay(time.Second)
	ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel()
	if _, _, err := s.Load(ctx, "t"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("slow Load = %v, want ErrUnavailable", err)
	}
	if s.Calls(OpLoad) != 2 {
		t.Errorf("Calls(Load) = %d, want 2", s.Calls(OpLoad))
	}
	s.SetDelay(0)
	tok, _ := s.NewToken(true)
	if len(tok) != 43 || s.LocalTokens() != 1 {
		t.Errorf("token %q, local %d", tok, s.LocalTokens())
	}
}
