package clustertest

import (
	"net"
	"slices"
	"sync/atomic"
	"testing"
)

// fakeNode listens on its gossip address, so crashes are visible on the
// network, and reports the view the test gives it.
type fakeNode struct {
	h       Host
	l       net.Listener
	members atomic.Int32
	halted  atomic.Bool
	closed  atomic.Bool
}

func (n *fakeNode) Close() error { n.closed.Store(true); return n.l.Close() }

func fakeHooks() Hooks[*fakeNode] {
	return Hooks[*fakeNode]{
		Open: func(h Host) (*fakeNode, error) {
			l, err := h.Net.Listen(h.GossipAddr())
			if err != nil {
				return nil, err
			}
			return &fakeNode{h: h, l: l}, nil
		},
		View: func(n *fakeNode) View { return View{Members: int(n.members.Load())} },
		Halt: func(n *fakeNode) { n.halted.Store(true); n.l.Close() },
	}
}

func TestClusterLifecycle(t *testing.T) {
	var all []*fakeNode
	t.Run("run", func(t *testing.T) {
		c := New(t, fakeHooks())
		for range 3 {
			all = append(all, c.Add())
		}
		for i, want := range []struct{ name, ip string }{{"node-01", "127.0.0.11"}, {"node-02", "127.0.0.12"}, {"node-03", "127.0.0.13"}} {
			if h := all[i].h; h.Name != want.name || h.IP != want.ip {
				t.Errorf("node %d started as %s at %s, want %s at %s", i, h.Name, h.IP, want.name, want.ip)
			}
		}
		if got, want := all[2].h.Join, []string{"127.0.0.11:7946", "127.0.0.12:7946"}; !slices.Equal(got, want) {
			t.Errorf("node-03 joined %v, want %v", got, want)
		}

		if c.Converged() {
			t.Errorf("Converged() = true with every node seeing 0 members, want false")
		}
		for _, n := range all {
			n.members.Store(3)
		}
		if !c.Converged() {
			t.Errorf("Converged() = false with every node seeing 3 members, want true")
		}
		c.WaitConverged()

		c.Crash("node-02")
		if !all[1].halted.Load() || all[1].closed.Load() {
			t.Errorf("Crash: halted %v, closed %v; want halted, not closed", all[1].halted.Load(), all[1].closed.Load())
		}
		if got := c.Nodes(); !slices.Equal(got, []*fakeNode{all[0], all[2]}) || c.Node("node-02") != nil {
			t.Errorf("after Crash Nodes() = %v, Node(node-02) = %v; want node-01, node-03 and nil", got, c.Node("node-02"))
		}
		if c.Converged() {
			t.Errorf("Converged() = true with two nodes seeing 3 members, want false")
		}
		again := c.Start("node-02") // the crashed host came back: it can listen again
		if again.h.IP != "127.0.0.12" {
			t.Errorf("restarted node-02 at %s, want its old address 127.0.0.12", again.h.IP)
		}
		all = append(all, again)

		c.Leave("node-01")
		if !all[0].closed.Load() || all[0].halted.Load() {
			t.Errorf("Leave: closed %v, halted %v; want closed, not halted", all[0].closed.Load(), all[0].halted.Load())
		}

		killed := c.Kill("node-03")
		if killed.halted.Load() || killed.closed.Load() {
			t.Errorf("Kill stopped the node, want it left to the caller")
		}
		if _, err := c.Net.Host("127.0.0.11").Dial(t.Context(), "127.0.0.13:7946"); err == nil {
			t.Errorf("dial to a killed node's host succeeded, want its host down")
		}
		killed.Close()
		if got := c.IPs(); len(got) != 1 || got["node-02"] != "127.0.0.12" {
			t.Errorf("IPs() = %v, want only node-02 at 127.0.0.12", got)
		}
	})
	if !all[3].halted.Load() {
		t.Errorf("the node still running at the end of the test was not halted")
	}
}
