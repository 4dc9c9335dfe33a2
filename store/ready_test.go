package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// TestReadyWaitsForPull: a node that joined is not ready while it cannot
// pull its partitions from one of their previous holders, and becomes
// ready once it can.
func TestReadyWaitsForPull(t *testing.T) {
	c := newTestCluster(t, 2)
	writeMany(t, c, "r", 20)
	// node-03 (127.0.0.13) will join through node-01 but cannot exchange
	// anything with node-02 (127.0.0.12), which holds every partition.
	c.Net.Block("127.0.0.13", "127.0.0.12")
	c.Net.Block("127.0.0.12", "127.0.0.13")
	n := c.Add()
	err := n.Ready()
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "pulling") {
		t.Fatalf("Ready() of a node that cannot pull = %v, want ErrNotReady: pulling", err)
	}
	c.Net.Heal()
	testkit.Eventually(t, 20*time.Second, "the new node ready", func() bool { return n.Ready() == nil })
	for _, m := range c.Nodes() {
		if err := m.Ready(); err != nil {
			t.Errorf("%s: Ready() = %v after the cluster settled, want nil", m.Name(), err)
		}
	}
}

// TestNotReadyOnceClosing: Close makes a node not ready before it starts
// handing over, not when it is done.
func TestNotReadyOnceClosing(t *testing.T) {
	c := newTestCluster(t, 2)
	leaving := c.Node("node-02")
	if err := leaving.Ready(); err != nil {
		t.Fatalf("Ready() = %v before Close, want nil", err)
	}
	// With its peer unreachable the hand-over takes at least a call timeout,
	// time enough to see readiness change while Close runs.
	c.Net.Partition([]string{"127.0.0.12"})
	closed := make(chan struct{})
	c.Forget("node-02")
	go func() { leaving.Close(); close(closed) }() // its error: the hand-over could not reach node-01
	for {
		err := leaving.Ready()
		if err != nil && strings.Contains(err.Error(), "shutting down") {
			select {
			case <-closed:
				t.Fatalf("Ready() = %v only after Close returned, want it while Close runs", err)
			default:
			}
			break
		}
		select {
		case <-closed:
			t.Fatalf("Close returned and Ready() = %v, want ErrNotReady: shutting down", leaving.Ready())
		default:
		}
		time.Sleep(time.Millisecond)
	}
	<-closed
	if err := leaving.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready() after Close = %v, want ErrNotReady", err)
	}
}
