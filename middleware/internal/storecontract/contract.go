package storecontract

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// Subject is the store under test.
type Subject struct {
	Store middleware.Store
	// PutBytes stores b as an opaque session (store.KindBytes) under token,
	// the way scs writes one; the interface has no method for it.
	PutBytes func(token string, b []byte) error
}

// wait bounds every wait of the suite: the owner of a session may be another
// node, reached over the network.
const wait = 10 * time.Second

// Run runs the contract cases as subtests of t, each on the subject newSubject
// returns.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s Subject)
	}{
		{"LoadMissing", loadMissing},
		{"ApplyCreatesAndReturnsTheSession", applyCreates},
		{"ApplyChangesOnlyNamedFields", applyMerges},
		{"ConcurrentFieldsBothSurvive", concurrentFields},
		{"Preconditions", preconditions},
		{"KindMismatch", kindMismatch},
		{"DeleteMissingIsNil", deleteMissing},
		{"ExpiredIsNeverReturned", expired},
		{"LockExcludesUntilUnlockOrTTL", lockExcludes},
		{"LeaseLostFailsTheWrite", leaseLost},
		{"NewTokenIsFreshAndUnused", newToken},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, newSubject(t)) })
	}
}

func token(t *testing.T, s Subject) string {
	t.Helper()
	tok, err := s.Store.NewToken(false)
	if err != nil {
		t.Fatalf("NewToken(false) = %v", err)
	}
	return tok
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return c
}

func set(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// fields renders r's fields for a failure message and a comparison.
func fields(r store.Record) string {
	return fmt.Sprintf("%q", r.Fields)
}

func apply(t *testing.T, s Subject, tok string, m store.Mutation) store.Record {
	t.Helper()
	r, err := s.Store.Apply(ctx(t), tok, m)
	if err != nil {
		t.Fatalf("Apply(%+v) = %v", m, err)
	}
	return r
}

func load(t *testing.T, s Subject, tok string) (store.Record, bool) {
	t.Helper()
	r, ok, err := s.Store.Load(ctx(t), tok)
	if err != nil {
		t.Fatalf("Load = %v, want no error", err)
	}
	return r, ok
}

func loadMissing(t *testing.T, s Subject) {
	if r, ok := load(t, s, token(t, s)); ok || r.Fields != nil || r.Version != 0 {
		t.Errorf("Load(missing) = (%+v, %v), want (zero, false)", r, ok)
	}
}

func applyCreates(t *testing.T, s Subject) {
	tok := token(t, s)
	r := apply(t, s, tok, store.Mutation{Set: set("a", "1"), Expiry: time.Now().Add(time.Hour)})
	if want := fields(store.Record{Fields: set("a", "1")}); fields(r) != want || r.Kind != store.KindFields {
		t.Errorf("Apply returned %s (kind %v), want %s (fields)", fields(r), r.Kind, want)
	}
	got, ok := load(t, s, tok)
	if !ok || fields(got) != fields(r) || got.Version != r.Version {
		t.Errorf("Load after Apply = (%s v%d, %v), want (%s v%d, true)", fields(got), got.Version, ok, fields(r), r.Version)
	}
}

func applyMerges(t *testing.T, s Subject) {
	tok := token(t, s)
	exp := time.Now().Add(time.Hour)
	apply(t, s, tok, store.Mutation{Set: set("a", "1", "b", "2", "c", "3"), Expiry: exp})
	apply(t, s, tok, store.Mutation{Set: set("b", "20")})
	r := apply(t, s, tok, store.Mutation{Delete: []string{"c"}})
	if want := fields(store.Record{Fields: set("a", "1", "b", "20")}); fields(r) != want {
		t.Errorf("after Set b and Delete c: %s, want %s", fields(r), want)
	}
	r = apply(t, s, tok, store.Mutation{Clear: true, Set: set("z", "9")})
	if want := fields(store.Record{Fields: set("z", "9")}); fields(r) != want {
		t.Errorf("after Clear and Set z: %s, want %s", fields(r), want)
	}
}

func concurrentFields(t *testing.T, s Subject) {
	tok := token(t, s)
	apply(t, s, tok, store.Mutation{Set: set("seed", "0"), Expiry: time.Now().Add(time.Hour)})
	const writers, writes = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				f := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Store.Apply(ctx(t), tok, store.Mutation{Set: set(f, "x")}); err != nil {
					t.Errorf("Apply(%s) = %v", f, err)
				}
			}
		})
	}
	wg.Wait()
	r, _ := load(t, s, tok)
	if got, want := len(r.Fields), 1+writers*writes; got != want {
		t.Errorf("%d fields after concurrent writes of distinct fields, want %d: a write lost another's field", got, want)
	}
}

func preconditions(t *testing.T, s Subject) {
	tok := token(t, s)
	_, err := s.Store.Apply(ctx(t), tok, store.Mutation{Set: set("a", "1"), IfExists: true})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply(IfExists) of a missing session = %v, want ErrNotFound", err)
	}
	if _, ok := load(t, s, tok); ok {
		t.Errorf("Load after a refused IfExists write found a session, want none")
	}
	apply(t, s, tok, store.Mutation{Set: set("a", "1"), Create: true, Expiry: time.Now().Add(time.Hour)})
	_, err = s.Store.Apply(ctx(t), tok, store.Mutation{Set: set("a", "2"), Create: true})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("Apply(Create) of an existing session = %v, want ErrConflict", err)
	}
	apply(t, s, tok, store.Mutation{Set: set("a", "3"), IfExists: true})
	if err := s.Store.DeleteCtx(ctx(t), tok); err != nil {
		t.Fatalf("DeleteCtx = %v", err)
	}
	_, err = s.Store.Apply(ctx(t), tok, store.Mutation{Set: set("a", "4"), IfExists: true})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply(IfExists) of a deleted session = %v, want ErrNotFound", err)
	}
}

func kindMismatch(t *testing.T, s Subject) {
	tok := token(t, s)
	if err := s.PutBytes(tok, []byte("opaque")); err != nil {
		t.Fatalf("PutBytes = %v", err)
	}
	_, err := s.Store.Apply(ctx(t), tok, store.Mutation{Set: set("a", "1")})
	if !errors.Is(err, store.ErrKindMismatch) {
		t.Errorf("Apply of fields to a bytes session = %v, want ErrKindMismatch", err)
	}
}

func deleteMissing(t *testing.T, s Subject) {
	if err := s.Store.DeleteCtx(ctx(t), token(t, s)); err != nil {
		t.Errorf("DeleteCtx(missing) = %v, want nil", err)
	}
}

func expired(t *testing.T, s Subject) {
	tok := token(t, s)
	exp := time.Now().Add(300 * time.Millisecond)
	apply(t, s, tok, store.Mutation{Set: set("a", "1"), Expiry: exp})
	testkit.Eventually(t, wait, "the session to expire", func() bool {
		r, ok := load(t, s, tok)
		if ok && time.Now().After(r.Deadline()) {
			t.Fatalf("Load returned a session whose deadline %v has passed", r.Deadline())
		}
		return !ok
	})
	_, err := s.Store.Apply(ctx(t), tok, store.Mutation{Set: set("a", "2"), IfExists: true})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply(IfExists) of an expired session = %v, want ErrNotFound", err)
	}
}

func lockExcludes(t *testing.T, s Subject) {
	tok := token(t, s)
	lease, err := s.Store.Lock(ctx(t), tok, time.Minute)
	if err != nil || lease == 0 {
		t.Fatalf("Lock = (%d, %v), want a lease", lease, err)
	}
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if l, err := s.Store.Lock(short, tok, time.Minute); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Lock while held = (%d, %v), want ErrLocked once ctx is done", l, err)
	}
	if err := s.Store.Unlock(ctx(t), tok, lease); err != nil {
		t.Fatalf("Unlock = %v", err)
	}
	// The holder dies without unlocking: its lease expires after ttl.
	const ttl = 300 * time.Millisecond
	dead, err := s.Store.Lock(ctx(t), tok, ttl)
	if err != nil {
		t.Fatalf("Lock after Unlock = %v, want the lease", err)
	}
	start := time.Now()
	next, err := s.Store.Lock(ctx(t), tok, time.Minute)
	if err != nil {
		t.Fatalf("Lock after the holder died = %v, want the lease once its ttl passed", err)
	}
	if waited := time.Since(start); next == dead || waited < ttl/2 {
		t.Errorf("Lock after the holder died = lease %d after %v, want a new lease (not %d) after about %v", next, waited, dead, ttl)
	}
	if err := s.Store.Unlock(ctx(t), tok, next); err != nil {
		t.Errorf("Unlock = %v", err)
	}
}

func leaseLost(t *testing.T, s Subject) {
	tok := token(t, s)
	apply(t, s, tok, store.Mutation{Set: set("a", "1"), Expiry: time.Now().Add(time.Hour)})
	lease, err := s.Store.Lock(ctx(t), tok, time.Minute)
	if err != nil {
		t.Fatalf("Lock = %v", err)
	}
	apply(t, s, tok, store.Mutation{Set: set("a", "2"), Lease: lease})
	if err := s.Store.Unlock(ctx(t), tok, lease); err != nil {
		t.Fatalf("Unlock = %v", err)
	}
	_, err = s.Store.Apply(ctx(t), tok, store.Mutation{Set: set("a", "3"), Lease: lease})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Apply with a released lease = %v, want ErrLeaseLost", err)
	}
	if r, _ := load(t, s, tok); string(r.Fields["a"]) != "2" {
		t.Errorf("a = %q after the refused write, want \"2\"", r.Fields["a"])
	}
}

func newToken(t *testing.T, s Subject) {
	seen := map[string]bool{}
	for _, local := range []bool{false, true, false, true} {
		tok, err := s.Store.NewToken(local)
		if err != nil || tok == "" || len(tok) > store.MaxTokenLen {
			t.Fatalf("NewToken(%v) = (%q, %v), want a token of 1..%d bytes", local, tok, err, store.MaxTokenLen)
		}
		if seen[tok] {
			t.Fatalf("NewToken(%v) = %q twice", local, tok)
		}
		seen[tok] = true
		if _, ok := load(t, s, tok); ok {
			t.Errorf("Load(NewToken()) found a session, want none")
		}
	}
}
