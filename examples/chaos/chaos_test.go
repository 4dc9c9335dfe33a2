package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/e5b1d45c/sessring/internal/netlab"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// The nodes of a run are this test binary, re-executed (proc.Self).
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// TestNetnsRun is a short -netns run: three nodes, each in its own network
// namespace, under load with every fault. It must pass the history check,
// lose nothing and leave no namespace behind.
func TestNetnsRun(t *testing.T) {
	testkit.SkipShort(t, "runs a chaos scenario in network namespaces")
	if err := netlab.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true needs network namespaces: %v", err)
		}
		t.Skipf("no network namespaces here (%v): run as root with iproute2 and nftables", err)
	}
	o := options{
		nodes: 3, duration: 28 * time.Second, workers: 4, seed: 20260707,
		netns: true, nemeses: faultKinds, gap: 500 * time.Millisecond, dir: t.TempDir(),
	}
	var out bytes.Buffer
	code, err := run(context.Background(), o, &out)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"linearizability: ok\n", "acknowledged writes lost: 0\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", strings.TrimSpace(want))
		}
	}
	if code != 0 {
		t.Errorf("run returned %d, want 0", code)
	}
	ns, _ := exec.Command("ip", "netns", "list").Output()
	if mine := fmt.Sprintf("sessring-%d-", os.Getpid()); strings.Contains(string(ns), mine) {
		t.Errorf("namespaces %s* left after the run:\n%s", mine, ns)
	}
}

// write and read build a token's history by hand; times in ms.
func write(v int64, call, ret int64) porcupine.Operation {
	if ret >= 0 {
		ret *= 1e6
	} else {
		ret = neverReturned
	}
	return porcupine.Operation{Input: regInput{token: "t", write: true, value: v}, Call: call * 1e6, Return: ret}
}

func read(v int64, call, ret int64) porcupine.Operation {
	return porcupine.Operation{Input: regInput{token: "t"}, Output: v, Call: call * 1e6, Return: ret * 1e6}
}

// The check must flag a stale read, so that "linearizability: ok" means
// something; and it must accept what a faulty network legitimately does to
// a write whose outcome the client never learnt.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"sequential", []porcupine.Operation{write(1, 0, 10), read(1, 20, 30), write(2, 40, 50), read(2, 60, 70)}, porcupine.Ok},
		{"stale read", []porcupine.Operation{write(1, 0, 10), write(2, 20, 30), read(1, 40, 50)}, porcupine.Illegal},
		{"absent after a write", []porcupine.Operation{write(1, 0, 10), read(0, 20, 30)}, porcupine.Illegal},
		{"value back after a newer one was read", []porcupine.Operation{write(1, 0, 10), write(2, 20, -1), read(2, 30, 40), read(1, 50, 60)}, porcupine.Illegal},
		{"failed write applied late", []porcupine.Operation{write(1, 0, -1), write(2, 20, 30), read(2, 40, 50), read(1, 60, 70)}, porcupine.Ok},
		{"failed write never applied", []porcupine.Operation{write(1, 0, 10), write(2, 20, -1), read(1, 40, 50)}, porcupine.Ok},
		{"stale read among unobserved failed writes", []porcupine.Operation{write(1, 0, 10), write(2, 20, 30), write(3, 40, -1), write(4, 50, -1), read(1, 60, 70)}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := check(tc.ops, 10*time.Second, 1, t.TempDir(), nil)
			if v.result != tc.want {
				t.Fatalf("check = %v, want %v", v.result, tc.want)
			}
			if tc.want != porcupine.Illegal {
				return
			}
			if len(v.illegal) != 1 || v.illegal[0] != "t" {
				t.Errorf("illegal tokens = %v, want [t]", v.illegal)
			}
			if st, err := os.Stat(v.visual); err != nil || st.Size() == 0 {
				t.Errorf("visualization %q not saved: %v", v.visual, err)
			}
		})
	}
}

// Leaving out the failed writes nobody read must not change a verdict: a
// history with many of them, one of which a read saw, stays decidable and
// linearizable, and the unread ones are gone.
func TestPruneKeepsObservedFailedWrites(t *testing.T) {
	ops := []porcupine.Operation{write(1, 0, 10)}
	for v := int64(2); v < 40; v++ {
		ops = append(ops, write(v, 10*v, -1))
	}
	ops = append(ops, read(17, 500, 510), read(17, 520, 530))
	kept, pruned := prune(ops)
	if pruned != 37 || len(kept) != 4 {
		t.Fatalf("prune left %d of %d ops (pruned %d), want 4 (pruned 37)", len(kept), len(ops), pruned)
	}
	if v := check(ops, 10*time.Second, 1, t.TempDir(), nil); v.result != porcupine.Ok {
		t.Fatalf("check = %v, want Ok", v.result)
	}
}

// A history the checker cannot decide within its budget fails the run: the
// verdict is not Ok (run exits 1 on anything else) and the report says the
// check was undecided. Forty overlapping writes and then a read of a value
// none of them wrote: proving that illegal means trying every order of the
// writes.
func TestUndecidedCheckFails(t *testing.T) {
	var ops []porcupine.Operation
	for v := int64(1); v <= 40; v++ {
		ops = append(ops, write(v, 0, 100))
	}
	ops = append(ops, read(999, 200, 300))
	v := check(ops, 50*time.Millisecond, 1, t.TempDir(), nil)
	if v.result != porcupine.Unknown {
		t.Fatalf("check of an undecidable history = %v, want %v", v.result, porcupine.Unknown)
	}
	var out strings.Builder
	(&report{lin: v}).printVerdict(&out)
	if !strings.Contains(out.String(), "linearizability: UNDECIDED") || !strings.Contains(out.String(), "counted as a failure") {
		t.Errorf("printVerdict = %q, want it to report an undecided check as a failure", out.String())
	}
}
