package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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
	cfg.ProbeInterval = 100 * time.Millisecond
	cfg.ProbeTimeout = 50 * time.Millisecond
	cfg.GossipInterval = 30 * time.Millisecond
	cfg.PushPullInterval = 500 * time.Millisecond
	cfg.SuspicionMult = 2
	cfg.CallTimeout = 500 * time.Millisecond
	cfg.OpTimeout = 10 * time.Second
	cfg.Logger = quietLogger()
	return cfg
}

// runChildNode runs until its stdin closes (graceful) or it is killed.
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
	fmt.Println("READY", n.cluster.Self().Addr)
	bufio.NewReader(os.Stdin).ReadString('\n')
	n.Close()
}

type childNode struct {
	cmd  *exec.Cmd
	addr string
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
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
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
		return &childNode{cmd: cmd, addr: addr}
	case <-time.After(20 * time.Second):
		t.Fatalf("child %s did not start", name)
	}
	return nil
}

// TestProcessesSurviveSIGKILL starts three real node processes on loopback,
// joins them from this process, writes sessions, SIGKILLs one process and
// checks every acknowledged write is still readable.
func TestProcessesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startChild(t, "proc-a", nil)
	b := startChild(t, "proc-b", []string{a.addr})
	cproc := startChild(t, "proc-c", []string{a.addr})
	local, err := Open(processConfig("proc-local", []string{a.addr, b.addr}))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	waitFor(t, 20*time.Second, "4 members with handoff done", func() bool {
		s := local.Stats()
		return len(s.Members) == 4 && s.PartitionsPending == 0
	})
	acked := map[string]string{}
	for i := range 2000 {
		tok, val := fmt.Sprintf("p-%05d", i), fmt.Sprintf("v%d", i)
		if err := local.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit(%s) = %v", tok, err)
		}
		acked[tok] = val
	}
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
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
	_ = cproc
}

// TestProcessesSurviveTwoSIGKILLs runs five real nodes (four processes and
// this one), kills one with SIGKILL, waits until its sessions have been
// re-replicated (no traffic drives it), kills a second and checks that every
// acknowledged write is still readable.
func TestProcessesSurviveTwoSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
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
	settled := func(members int) func() bool {
		return func() bool {
			s := local.Stats()
			return len(s.Members) == members && s.PartitionsPending == 0
		}
	}
	waitFor(t, 30*time.Second, "5 members with handoff done", settled(5))
	acked := map[string]string{}
	for i := range 2000 {
		tok, val := fmt.Sprintf("p5-%05d", i), fmt.Sprintf("v%d", i)
		if err := local.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit(%s) = %v", tok, err)
		}
		acked[tok] = val
	}
	for i, victim := range []*childNode{kids[1], kids[2]} {
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Re-replication: every node pulls the partitions it now holds.
		// Only this node's view is visible here; the kill's effect on the
		// others is checked by reading everything back through them below.
		waitFor(t, 30*time.Second, fmt.Sprintf("re-replication after kill %d", i+1), settled(4-i))
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
