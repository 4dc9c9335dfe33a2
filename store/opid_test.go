package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// TestRetriedWriteAppliedOnce replays the history the linearizability check
// once caught: a write is applied, its reply is lost, another client's
// write to the same field is acknowledged, and then the first write is
// retried. Without write ids the retry put the old value back. The retry
// is replayed at the same owner and, after the owner crashes, at the new
// owner, which knows the write from the replicated history.
func TestRetriedWriteAppliedOnce(t *testing.T) {
	c := newTestCluster(t, 3)
	origin, other := c.Node("node-01"), c.Node("node-03")
	tok := tokenOwnedBy(t, origin, "node-02")
	ctx := context.Background()

	// Attempt 1 is applied; pretend its reply was lost.
	op := writeOp{kind: opApply, mut: Mutation{Set: map[string][]byte{"f": []byte("first")}}, id: origin.nextOpID()}
	if _, _, err := origin.write(ctx, tok, &op); err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	if _, err := other.Apply(ctx, tok, Mutation{Set: map[string][]byte{"f": []byte("second")}}); err != nil {
		t.Fatalf("other client's write: %v", err)
	}
	replay := func(when string) {
		t.Helper()
		retry := op
		retry.retry = true
		r, _, err := origin.write(ctx, tok, &retry)
		if err != nil {
			t.Fatalf("retry %s: %v", when, err)
		}
		if got := string(r.fields["f"]); got != "second" {
			t.Errorf("retry %s returned f=%q, want the current %q", when, got, "second")
		}
		rec, ok, err := other.Load(ctx, tok)
		if err != nil || !ok {
			t.Fatalf("Load after retry %s = %v, %v", when, ok, err)
		}
		if got := string(rec.Fields["f"]); got != "second" {
			t.Errorf("after retry %s f=%q: the retry was applied again over a later acknowledged write", when, got)
		}
	}
	replay("at the same owner")
	if d := c.Node("node-02").Stats().DuplicateWrites; d != 1 {
		t.Errorf("owner DuplicateWrites = %d, want 1", d)
	}

	c.Crash("node-02")
	replay("at the new owner after the old one crashed")

	// A write with a fresh id is applied as usual.
	fresh := writeOp{kind: opApply, mut: Mutation{Set: map[string][]byte{"f": []byte("third")}}, id: origin.nextOpID()}
	if r, _, err := origin.write(ctx, tok, &fresh); err != nil || string(r.fields["f"]) != "third" {
		t.Fatalf("fresh write = %v, %v; want f=third", r, err)
	}
}

// tokenOwnedBy finds a token that n's view places on owner.
func tokenOwnedBy(t *testing.T, n *Node, owner string) string {
	t.Helper()
	for range 10000 {
		tok, err := n.NewToken(false)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := n.Locate(tok); o == owner {
			return tok
		}
	}
	t.Fatalf("no token owned by %s", owner)
	return ""
}

func TestRecordOpHistory(t *testing.T) {
	now := time.Now().UnixNano()
	id := func(i int) opID { return opID{Node: 7, Seq: uint64(i)} }

	var cur *entry
	for i := 1; i <= 3; i++ {
		next := &entry{}
		recordOp(next, cur, id(i), now+int64(i))
		cur = next
	}
	for i := 1; i <= 3; i++ {
		if !cur.applied(id(i)) {
			t.Errorf("write %d not remembered", i)
		}
	}
	if cur.applied(id(4)) || cur.applied(opID{}) {
		t.Error("an unknown or zero id counts as applied")
	}

	// Records older than opMemory are dropped, silently.
	later := &entry{}
	recordOp(later, cur, id(4), now+opMemory+2)
	if later.applied(id(1)) || !later.applied(id(3)) || !later.applied(id(4)) || later.opsCut != 0 {
		t.Errorf("after opMemory: ops %v cut %d; want 3 and 4 kept, no cut", later.ops, later.opsCut)
	}

	// Past maxOpRecords the oldest young record is dropped and noted: a
	// retry of it is then uncertain, a first attempt is not.
	cur = nil
	for i := 1; i <= maxOpRecords+1; i++ {
		next := &entry{}
		recordOp(next, cur, id(i), now+int64(i))
		cur = next
	}
	if len(cur.ops) != maxOpRecords || cur.applied(id(1)) || cur.opsCut != now+1 {
		t.Fatalf("over the cap: %d ops, applied(1)=%v, cut %d; want %d, false, %d", len(cur.ops), cur.applied(id(1)), cur.opsCut, maxOpRecords, now+1)
	}
	op := &writeOp{id: id(1), retry: true}
	if done, err := checkRetry(cur, op, now+100); done || !errors.Is(err, ErrUncertain) {
		t.Errorf("retry of a dropped record = %v, %v; want ErrUncertain", done, err)
	}
	op.retry = false
	if done, err := checkRetry(cur, op, now+100); done || err != nil {
		t.Errorf("first attempt = %v, %v; want apply", done, err)
	}
	op = &writeOp{id: id(2), retry: true}
	if done, err := checkRetry(cur, op, now+100); !done || err != nil {
		t.Errorf("retry of a remembered write = %v, %v; want done", done, err)
	}

	// The history survives the wire (replication, pull, backup).
	cur.kind, cur.version = KindBytes, 9
	got, err := unmarshalEntry("tok", marshalEntry("tok", cur, entryFormat))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ops) != len(cur.ops) || got.opsCut != cur.opsCut || !got.applied(id(2)) {
		t.Errorf("decoded ops %d cut %d; want %d cut %d", len(got.ops), got.opsCut, len(cur.ops), cur.opsCut)
	}

	// Backup values written before write ids (format 1) still decode.
	var enc wire.Encoder
	enc.Byte(1)
	enc.String("tok")
	old := &entry{kind: KindBytes, version: 3, value: []byte("v")}
	enc.Byte(0)
	enc.Uvarint(old.version)
	enc.Varint(old.access)
	old.encodeBody(&enc)
	if e, err := unmarshalEntry("tok", enc.B); err != nil || e.version != 3 || string(e.value) != "v" || len(e.ops) != 0 {
		t.Errorf("format 1 value = %+v, %v", e, err)
	}
}

// TestBusySessionSurvivesOwnerCrash: a session written more often than its
// history remembers (more than maxOpRecords writes within opMemory) must
// still take writes while its owner is down and after. Attempts that never
// reached a node (the dead owner refuses connections) or that a node refused
// before applying anything (wrong owner, view changing) cannot have been
// applied, so they must not turn the next attempt into an undecidable retry
// (ErrUncertain): only an attempt whose fate is unknown may.
func TestBusySessionSurvivesOwnerCrash(t *testing.T) {
	c := newTestCluster(t, 3)
	caller := c.Node("node-01")
	tok := tokenOwnedBy(t, caller, "node-02")
	ctx := context.Background()
	expiry := time.Now().Add(time.Hour)
	for i := range 2 * maxOpRecords {
		if err := caller.Commit(tok, []byte(fmt.Sprintf("v%d", i)), expiry); err != nil {
			t.Fatalf("warm-up commit %d: %v", i, err)
		}
	}
	c.Crash("node-02")
	for i := range 5 {
		want := fmt.Sprintf("after crash %d", i)
		if err := caller.CommitCtx(ctx, tok, []byte(want), expiry); err != nil {
			t.Fatalf("commit %d after the owner crashed: %v", i, err)
		}
		got, ok, err := caller.Find(tok)
		if err != nil || !ok || string(got) != want {
			t.Fatalf("Find after commit %d = %q, %v, %v; want %q", i, got, ok, err, want)
		}
	}
}

// TestBusySessionSurvivesReplicaCrash: a busy session (written more often
// than its history remembers) whose replica crashes. The owner's next
// replication cannot even be sent (the connection is gone and a new one
// cannot be opened), so nothing of that write is stored anywhere: it must
// be retried as a first attempt and succeed once the failover gives the
// session a new replica, never fail with ErrUncertain. Through the owner
// and forwarded by another node.
func TestBusySessionSurvivesReplicaCrash(t *testing.T) {
	for _, via := range []string{"owner", "forwarded"} {
		t.Run(via, func(t *testing.T) {
			c := newTestCluster(t, 3)
			owner := c.Node("node-02")
			tok := ""
			for tok == "" {
				cand := tokenOwnedBy(t, owner, "node-02")
				if _, r := owner.Locate(cand); r == "node-03" {
					tok = cand
				}
			}
			caller := owner
			if via == "forwarded" {
				caller = c.Node("node-01")
			}
			expiry := time.Now().Add(time.Hour)
			for i := range 2 * maxOpRecords {
				if err := caller.Commit(tok, []byte(fmt.Sprintf("v%d", i)), expiry); err != nil {
					t.Fatalf("warm-up commit %d: %v", i, err)
				}
			}
			c.Crash("node-03")
			for i := range 5 {
				want := fmt.Sprintf("after crash %d", i)
				if err := caller.Commit(tok, []byte(want), expiry); err != nil {
					t.Fatalf("commit %d after the replica crashed: %v", i, err)
				}
				got, ok, err := caller.Find(tok)
				if err != nil || !ok || string(got) != want {
					t.Fatalf("Find after commit %d = %q, %v, %v; want %q", i, got, ok, err, want)
				}
			}
		})
	}
}

// TestRefusalForCaller: a forwarded write that certainly changed nothing
// reaches its caller as a refusal (never as an attempt that may have been
// applied), and one that may have changed something keeps its error.
func TestRefusalForCaller(t *testing.T) {
	notSent := fmt.Errorf("%w: %w", rpc.ErrNotSent, rpc.ErrUnreachable)
	for _, tc := range []struct {
		name      string
		err       error
		unapplied bool // as the caller must see it
	}{
		{"replica never sent", fmt.Errorf("store: peer node-03: %w", notSent), true},
		{"replica closed", fmt.Errorf("%w (node-03)", errPeerGone), true},
		{"not the owner", errNotOwner, true},
		{"replica connection lost after sending", fmt.Errorf("rpc: connection lost: %w", rpc.ErrUnreachable), false},
		{"a version may already be stored", fmt.Errorf("%w: a version may already be stored: %v", errRaced, notSent), false},
		{"timeout", context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the forwarding node decodes: the code toRemote picks.
			got := fromRemote("node-02", toRemote(refusalForCaller(tc.err)))
			if refusedUnapplied(got) != tc.unapplied {
				t.Errorf("%v reaches the caller as %v: refusedUnapplied = %v, want %v", tc.err, got, !tc.unapplied, tc.unapplied)
			}
		})
	}
}
