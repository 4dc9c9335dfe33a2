package backup_test

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// The process tests re-execute the test binary as node processes: with
// SESSRING_BACKUP_TEST_NODE set, TestMain runs a node instead of the tests
// (as in store/process_test.go).
const (
	envNode      = "SESSRING_BACKUP_TEST_NODE"      // the node's name
	envBind      = "SESSRING_BACKUP_TEST_BIND"      // its gossip address
	envJoin      = "SESSRING_BACKUP_TEST_JOIN"      // seeds, comma-separated
	envMemcached = "SESSRING_BACKUP_TEST_MEMCACHED" // the memcached address
)

func TestMain(m *testing.M) {
	if name := os.Getenv(envNode); name != "" {
		os.Exit(runNodeProcess(name, os.Getenv(envBind), os.Getenv(envJoin), os.Getenv(envMemcached)))
	}
	os.Exit(m.Run())
}

// processConfig is the store config of every node of the process tests, in
// a process of its own or in the test's: write-through to memcached, with
// the in-memory clusters' tuning (cluster.config) on real loopback sockets.
func processConfig(name, bind string, join []string, b store.Backup) store.Config {
	cfg := store.DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = bind
	cfg.Join = join
	cfg.SecretKey = clusterKey
	storetest.Fast(&cfg)
	cfg.OrphanGrace = store.DefaultConfig().OrphanGrace // as before: not part of these tests' tuning
	cfg.CallTimeout = 500 * time.Millisecond
	cfg.OpTimeout = 10 * time.Second
	cfg.JoinTimeout = 10 * time.Second
	cfg.AntiEntropyInterval = 200 * time.Millisecond
	cfg.HandoverTimeout = 500 * time.Millisecond
	cfg.Backup = b
	cfg.BackupMode = store.WriteThrough
	cfg.BackupDelay = time.Hour // only expiry tombstones use the queue
	cfg.Logger = testkit.QuietLogger()
	return cfg
}

// runNodeProcess runs one node until its stdin closes (graceful Close) or
// it is killed. It prints "READY <gossip addr>" once the node has joined,
// or "ERROR ..." and returns non-zero.
func runNodeProcess(name, bind, join, mc string) int {
	var seeds []string
	if join != "" {
		seeds = strings.Split(join, ",")
	}
	b, err := backup.New(backup.Config{Servers: []string{mc}, SecretKey: clusterKey})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	n, err := store.Open(processConfig(name, bind, seeds, b))
	if err != nil {
		b.Close()
		fmt.Println("ERROR", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	fmt.Println("READY", bind)
	io.Copy(io.Discard, os.Stdin) // returns when the test closes stdin or exits
	n.Close()
	b.Close()
	return 0
}

// nodeProcess is a node running in a child process.
type nodeProcess struct {
	name string
	cmd  *exec.Cmd
	out  chan string // stdout lines; closed at EOF
	once sync.Once   // guards the reaping in kill
}

// startNodeProcess starts a node process with gossip address addr, joining
// seeds, and waits until it is ready. The test's cleanup kills it.
func startNodeProcess(t *testing.T, name, addr string, seeds []string, mc string) *nodeProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNode+"="+name, envBind+"="+addr,
		envJoin+"="+strings.Join(seeds, ","), envMemcached+"="+mc)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProcess{name: name, cmd: cmd, out: make(chan string, 16)}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			select {
			case p.out <- s.Text():
			default: // nobody listens after READY
			}
		}
		close(p.out)
	}()
	t.Cleanup(func() {
		stdin.Close()
		p.kill()
	})
	select {
	case l, ok := <-p.out:
		if !ok || !strings.HasPrefix(l, "READY ") {
			t.Fatalf("node process %s: %q, want READY", name, l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("node process %s did not start within 20s", name)
	}
	return p
}

// signal sends SIGKILL; kill then reaps the process.
func (p *nodeProcess) signal() { p.cmd.Process.Signal(syscall.SIGKILL) }

// kill SIGKILLs the process, if it still runs, and waits for it to exit.
func (p *nodeProcess) kill() {
	p.once.Do(func() {
		p.signal()
		for range p.out { // EOF: the process is gone; Wait may close the pipe
		}
		p.cmd.Wait()
	})
}

// procCluster is a cluster of node processes on loopback and one node in
// the test's process, through which the test reads and writes; all of them
// write through to the same memcached.
type procCluster struct {
	t     *testing.T
	mc    string
	addrs map[string]string // node name -> gossip address, stable across restarts
	procs []*nodeProcess
	local *member // the node in this process; its backup can be killed
}

// newProcCluster returns an empty cluster on memcached at mc. Nodes it still
// runs at the end of the test are crashed.
func newProcCluster(t *testing.T, mc string) *procCluster {
	p := &procCluster{t: t, mc: mc, addrs: map[string]string{}}
	t.Cleanup(p.crashAll)
	return p
}

// addr returns name's gossip address: a free port the first time, the same
// address after that.
func (p *procCluster) addr(name string) string {
	a, ok := p.addrs[name]
	if !ok {
		a = fmt.Sprintf("127.0.0.1:%d", freePort(p.t))
		p.addrs[name] = a
	}
	return a
}

// start starts count node processes named prefix-1... and a node named
// prefix-local in this process, and waits until the cluster converged.
func (p *procCluster) start(prefix string, count int) {
	p.t.Helper()
	var seeds []string
	for _, name := range names(prefix, count) {
		addr := p.addr(name)
		p.procs = append(p.procs, startNodeProcess(p.t, name, addr, seeds, p.mc))
		seeds = append(seeds, addr)
	}
	name := prefix + "-local"
	b, err := backup.New(backup.Config{Servers: []string{p.mc}, SecretKey: clusterKey})
	if err != nil {
		p.t.Fatalf("backup.New: %v", err)
	}
	m := &member{name: name, backup: &crashable{Memcached: b}}
	if m.node, err = store.Open(processConfig(name, p.addr(name), seeds, m.backup)); err != nil {
		b.Close()
		p.t.Fatalf("store.Open(%s) = %v", name, err)
	}
	p.local = m
	testkit.Eventually(p.t, 30*time.Second, fmt.Sprintf("%d members with pulls done", count+1), func() bool {
		s := m.node.Stats()
		return len(s.Members) == count+1 && s.PartitionsPending == 0
	})
}

// inProcess is the node in this process, for the shared helpers
// (commitAll, checkValues, checkLate).
func (p *procCluster) inProcess() nodeSet { return localNode{p.local.node} }

// localNode is one node as a nodeSet.
type localNode struct{ n *store.Node }

func (l localNode) nodes() []*store.Node { return []*store.Node{l.n} }

// crashAll kills every node at once: SIGKILL for the processes; the node in
// this process loses its memcached client first, so stopping it (which
// finds no peer to hand over to) cannot write anything a crash would not.
func (p *procCluster) crashAll() {
	if p.local != nil {
		p.local.backup.dead.Store(true)
	}
	for _, proc := range p.procs {
		proc.signal()
	}
	for _, proc := range p.procs {
		proc.kill()
	}
	p.procs = nil
	if p.local == nil {
		return
	}
	start := time.Now()
	p.local.node.Close() // errors expected: there is nobody to hand over to
	if err := p.local.backup.Close(); err != nil {
		p.t.Errorf("backup Close(%s) = %v", p.local.name, err)
	}
	if d := time.Since(start); d > crashTimeout {
		p.t.Errorf("stopping %s after the crash took %v, want at most %v", p.local.name, d, crashTimeout)
	}
	p.local = nil
}

// TestFullRestartWriteThroughProcesses is TestFullRestartWriteThrough with
// real processes: three node processes and a node in this process hold
// sessions, written through to one memcached, and all crash at once (the
// processes by SIGKILL). Three new processes with other names serve every
// acknowledged session with its last value; after more writes and a second
// crash, so do three with the original names and addresses.
func TestFullRestartWriteThroughProcesses(t *testing.T) {
	testkit.SkipShort(t, "starts processes")
	srv := memcachedtest.Start(t)
	c := newProcCluster(t, srv.Addr)
	c.start("a", 3)
	exp := time.Now().Add(time.Hour)
	want := sessionValues("wtp", 1000, "v1")
	commitAll(t, c.inProcess(), want, exp)
	second := overwrite(want, 5, "v2")
	commitAll(t, c.inProcess(), second, exp)
	maps.Copy(want, second)
	c.crashAll()

	c.start("b", 3)
	checkValues(t, c.inProcess(), want)
	if s := c.local.node.Stats().Backup; s.Restored == 0 {
		t.Errorf("backup stats %+v of %s after the restart: want Restored > 0", s, c.local.name)
	}
	third := overwrite(want, 7, "v3")
	commitAll(t, c.inProcess(), third, exp)
	maps.Copy(want, third)
	c.crashAll()

	c.start("a", 3) // same names, same addresses
	checkValues(t, c.inProcess(), want)
}

// TestFullRestartWriteThroughProcessesUnderLoad crashes the cluster of
// TestFullRestartWriteThroughProcesses while writers are rewriting their
// sessions through it. After a restart every session reads back as its
// last acknowledged value, or as the value of the write that was in flight
// at the crash: that one may or may not have landed.
func TestFullRestartWriteThroughProcessesUnderLoad(t *testing.T) {
	testkit.SkipShort(t, "starts processes")
	srv := memcachedtest.Start(t)
	c := newProcCluster(t, srv.Addr)
	c.start("a", 3)
	w := startWriters(t, c.local.node, 16, 25)
	testkit.Eventually(t, 30*time.Second, "3000 acknowledged writes", func() bool { return w.acks.Load() >= 3000 })
	w.crashing.Store(true)
	c.crashAll()
	acked, inflight := w.wait()

	c.start("b", 3)
	settled := maps.Clone(acked)
	for tok := range inflight {
		delete(settled, tok)
	}
	checkValues(t, c.inProcess(), settled)
	lost := checkLate(t, c.inProcess(), inflight, acked)
	t.Logf("%d acknowledged writes; %d sessions checked; %d of %d writes in flight at the crash did not land",
		w.acks.Load(), len(acked), lost, len(inflight))
}

// writers rewrite their own sessions in rounds through one node until the
// crash. For each session they keep the last acknowledged value and the
// value of a write that failed after it (in flight at the crash), which may
// or may not have been stored.
type writers struct {
	t        *testing.T
	crashing atomic.Bool // set just before the crash: start no more writes
	acks     atomic.Int64
	errs     atomic.Int64 // writes that failed before the crash
	wg       sync.WaitGroup

	// mu guards acked and inflight.
	mu       sync.Mutex
	acked    map[string]string
	inflight map[string]string
}

func startWriters(t *testing.T, n *store.Node, count, sessions int) *writers {
	w := &writers{t: t, acked: map[string]string{}, inflight: map[string]string{}}
	for i := range count {
		w.wg.Go(func() { w.run(n, i, sessions) })
	}
	t.Cleanup(func() {
		w.crashing.Store(true)
		w.wg.Wait()
	})
	return w
}

func (w *writers) run(n *store.Node, id, sessions int) {
	acked, inflight := map[string]string{}, map[string]string{}
	defer func() {
		w.mu.Lock()
		maps.Copy(w.acked, acked)
		maps.Copy(w.inflight, inflight)
		w.mu.Unlock()
	}()
	for round := 1; ; round++ {
		for i := range sessions {
			if w.crashing.Load() {
				return
			}
			tok := fmt.Sprintf("load-w%d-s%03d", id, i)
			val := fmt.Sprintf("%s-r%d", tok, round)
			err := n.Commit(tok, []byte(val), time.Now().Add(time.Hour))
			if err == nil {
				acked[tok] = val
				delete(inflight, tok)
				w.acks.Add(1)
				continue
			}
			inflight[tok] = val
			if w.crashing.Load() {
				return
			}
			if w.errs.Add(1) <= 5 {
				w.t.Errorf("Commit(%s) before the crash = %v", tok, err)
			}
		}
	}
}

// wait waits for the writers to stop (they do once their node is closed)
// and returns the last acknowledged value of every session and the values
// of the writes that failed after it.
func (w *writers) wait() (acked, inflight map[string]string) {
	w.wg.Wait()
	return w.acked, w.inflight
}
