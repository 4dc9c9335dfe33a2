package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// The multi-process test re-executes the test binary as node processes: with
// SESSRING_TEST_NODE set, TestMain runs a node instead of the tests.
func TestMain(m *testing.M) {
	if name := os.Getenv("SESSRING_TEST_NODE"); name != "" {
		runChildNode(name, os.Getenv("SESSRING_TEST_JOIN"))
		return
	}
	os.Exit(m.Run())
}

var processKey = bytes.Repeat([]byte{42}, 32)

func processConfig(name string, join []string) Config {
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Join = join
	cfg.SecretKey = processKey
	// Failure detection tolerates a starved process (race-enabled binaries,
	// several test packages on two cores).
	setTiming(&cfg, testkit.Processes())
	cfg.CallTimeout = 500 * time.Millisecond
	cfg.OpTimeout = 10 * time.Second
	cfg.Logger = testkit.QuietLogger()
	return cfg
}

// runChildNode runs until its stdin closes (graceful) or it is killed. After
// "READY <gossip addr>" it reports its state (reportState).
func runChildNode(name, join string) {
	var seeds []string
	if join != "" {
		seeds = strings.Split(join, ",")
	}
	n, err := Open(processConfig(name, seeds))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY", n.GossipAddr())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { reportState(n, stop) })
	bufio.NewReader(os.Stdin).ReadString('\n')
	close(stop)
	wg.Wait()
	n.Close()
}

// reportState prints "STATE <members> <pending partitions>" each time either
// changes, until stop closes, so the test can wait for every node to settle.
func reportState(n *Node, stop <-chan struct{}) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		s := n.Stats()
		if cur := fmt.Sprintf("STATE %d %d", len(s.Members), s.PartitionsPending); cur != last {
			fmt.Println(cur)
			last = cur
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

type childNode struct {
	cmd  *exec.Cmd
	addr string

	// mu guards members and pending, the state the child last reported.
	mu               sync.Mutex
	members, pending int
}

// settled reports whether the child last said it sees members members and
// holds every partition it should.
func (c *childNode) settled(members int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members == members && c.pending == 0
}

// settledAll reports whether local and every child in kids see members
// members and have pulled every partition they hold.
func settledAll(local *Node, kids []*childNode, members int) bool {
	s := local.Stats()
	if len(s.Members) != members || s.PartitionsPending != 0 {
		return false
	}
	for _, k := range kids {
		if !k.settled(members) {
			return false
		}
	}
	return true
}

func startChild(t *testing.T, name string, join []string) *childNode {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SESSRING_TEST_NODE="+name, "SESSRING_TEST_JOIN="+strings.Join(join, ","))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := &childNode{cmd: cmd}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			var members, pending int
			if _, err := fmt.Sscanf(s.Text(), "STATE %d %d", &members, &pending); err == nil {
				c.mu.Lock()
				c.members, c.pending = members, pending
				c.mu.Unlock()
				continue
			}
			select {
			case line <- s.Text():
			default:
			}
		}
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "READY ")
		if !ok {
			t.Fatalf("child %s: %s", name, l)
		}
		c.addr = addr
		return c
	case <-time.After(20 * time.Second):
		t.Fatalf("child %s did not start", name)
	}
	return nil
}

// TestProcessesSurviveSIGKILL runs clusters of three and five real nodes on
// loopback (processes, and this one to issue requests), writes sessions,
// SIGKILLs one process and checks every acknowledged write is still
// readable.
func TestProcessesSurviveSIGKILL(t *testing.T) {
	testkit.SkipShort(t, "starts processes")
	for _, tc := range []struct {
		name    string
		members int // including this process's node
	}{
		{"3 members", 3},
		{"5 members", 5},
	} {
		t.Run(tc.name, func(t *testing.T) { surviveOneSIGKILL(t, tc.members) })
	}
}

// surviveOneSIGKILL starts members-1 node processes and a node in this
// process, writes sessions, kills one process (not the seed) and reads
// everything back.
func surviveOneSIGKILL(t *testing.T, members int) {
	prefix := fmt.Sprintf("one%d", members)
	a := startChild(t, prefix+"-a", nil)
	kids := []*childNode{a}
	for i := 1; i < members-1; i++ {
		kids = append(kids, startChild(t, fmt.Sprintf("%s-%c", prefix, 'a'+i), []string{a.addr}))
	}
	local, err := Open(processConfig(prefix+"-local", []string{a.addr, kids[1].addr}))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%d members with pulls done", members), func() bool {
		return settledAll(local, kids, members)
	})
	acked := map[string]string{}
	for i := range 2000 {
		tok, val := fmt.Sprintf("%s-%05d", prefix, i), fmt.Sprintf("v%d", i)
		if err := local.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit(%s) = %v", tok, err)
		}
		acked[tok] = val
	}
	if err := kids[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lost := 0
	for tok, val := range acked {
		got, ok, err := local.Find(tok)
		if err != nil || !ok || string(got) != val {
			if lost++; lost < 5 {
				t.Errorf("Find(%s) after SIGKILL = %q, %v, %v; want %q", tok, got, ok, err, val)
			}
		}
	}
	t.Logf("read back %d sessions after SIGKILL in %v", len(acked), time.Since(start))
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged sessions lost after SIGKILL", lost, len(acked))
	}
}

// TestProcessesSurviveTwoSIGKILLs runs five real nodes (four processes and
// this one), kills one with SIGKILL, waits until its sessions have been
// re-replicated (no traffic drives it), kills a second and checks that every
// acknowledged write is still readable.
func TestProcessesSurviveTwoSIGKILLs(t *testing.T) {
	testkit.SkipShort(t, "starts processes")
	a := startChild(t, "five-a", nil)
	kids := []*childNode{a}
	for _, name := range []string{"five-b", "five-c", "five-d"} {
		kids = append(kids, startChild(t, name, []string{a.addr}))
	}
	local, err := Open(processConfig("five-local", []string{a.addr}))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	settled := func(members int, live []*childNode) func() bool {
		return func() bool { return settledAll(local, live, members) }
	}
	testkit.Eventually(t, 30*time.Second, "5 members with pulls done", settled(5, kids))
	acked := map[string]string{}
	for i := range 2000 {
		tok, val := fmt.Sprintf("p5-%05d", i), fmt.Sprintf("v%d", i)
		if err := local.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit(%s) = %v", tok, err)
		}
		acked[tok] = val
	}
	survivors := slices.Clone(kids)
	for i, victim := range []*childNode{kids[1], kids[2]} {
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		survivors = slices.DeleteFunc(survivors, func(k *childNode) bool { return k == victim })
		// Re-replication: every node pulls the partitions it now holds.
		// All must be done before the second kill: a node that has not yet
		// noticed the first still lacks the sessions whose only other copy
		// the second kill takes.
		testkit.Eventually(t, 30*time.Second, fmt.Sprintf("re-replication after kill %d", i+1), settled(4-i, survivors))
	}
	lost := 0
	for tok, val := range acked {
		got, ok, err := local.Find(tok)
		if err != nil || !ok || string(got) != val {
			if lost++; lost < 5 {
				t.Errorf("Find(%s) after two SIGKILLs = %q, %v, %v; want %q", tok, got, ok, err, val)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged sessions lost after two SIGKILLs", lost, len(acked))
	}
}
