package proc_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

// TestDieWithParent kills a child that has a grandchild started with
// DieWithParent; the grandchild ignores its stdin closing, so only the
// kernel's signal can end it.
func TestDieWithParent(t *testing.T) {
	var pid string
	parent, _ := startChild(t, "parent", nil, proc.Expect("READY", &pid))
	grandchild, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", pid, err)
	}
	if !alive(grandchild) {
		t.Fatalf("grandchild %d is not running before its parent dies", grandchild)
	}
	parent.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for alive(grandchild) {
		if time.Now().After(deadline) {
			killPid(grandchild)
			t.Fatalf("grandchild %d still runs 10s after its parent was killed", grandchild)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs: it exists and is not a zombie (the
// grandchild's new parent may be slow to reap it, or never do).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces, so split after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}
