package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
	"github.com/e5b1d45c/sessring/internal/version"
)

// firstRelease is the commit whose formats are protocol version 1: the
// build every later one must upgrade from without losing a session.
const firstRelease = "164c29a"

// TestRollingUpgrade replaces, one at a time, the three nodes of a cluster
// built from the first release with nodes of this build, while four clients
// increment 24 sessions through the nodes that are up (a draining load
// balancer), then restarts the new nodes one at a time. Locking is on
// (examples/node uses LockAuto).
//
// During the upgrade no request may fail because old and new nodes
// disagree: the only failures allowed are "lease lost" answers involving a
// node of the first release, whose handover drops its lock leases (fixed in
// later builds). Once the last old node is gone the cluster speaks the
// newest version on every node, and the restart of the new nodes fails no
// request at all. No acknowledged increment is ever lost.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the first release and starts processes")
	}
	c := newUpgradeCluster(t, buildFirstRelease(t))
	for i := range 3 {
		c.start(i, true)
	}
	c.waitSettled()
	sessions := make([]*labSession, 24)
	for k := range sessions {
		sessions[k] = &labSession{}
		if _, err := c.incr(sessions[k], k%3); err != nil {
			t.Fatal(err)
		}
	}
	load := c.startLoad(sessions)

	for i := range 3 {
		c.replace(i, false)
		t.Logf("%s now runs this build", c.name(i))
		if i < 2 { // first-release nodes remain: the cluster must keep to their version
			if v, body := c.clusterVersion(i); v != version.V1 {
				t.Errorf("%s reports cluster version %d beside first-release nodes, want %d: %s", c.name(i), v, version.V1, body)
			}
		}
	}
	c.waitClusterVersion(version.Max)
	upgraded, failures, slowest := load.phase()
	explained, refused := c.classify(failures)
	t.Logf("upgrade under load: %d increments acknowledged, %d failed, %d of them a lease a first-release node dropped; slowest request %v",
		upgraded, len(failures), explained, slowest)
	for _, f := range refused {
		t.Errorf("failed during the upgrade: %s", f)
	}

	for i := range 3 {
		c.replace(i, false)
		t.Logf("%s restarted", c.name(i))
	}
	restarted, failures, slowest := load.stop()
	t.Logf("rolling restart of the new nodes under load: %d increments acknowledged, %d failed; slowest request %v", restarted, len(failures), slowest)
	if len(failures) > 0 {
		_, refused := c.classify(failures)
		t.Errorf("%d requests failed during the rolling restart of new nodes, want 0; unexplained: %q", len(failures), refused)
	}
	if upgraded == 0 || restarted == 0 {
		t.Errorf("acknowledged increments: %d during the upgrade, %d during the restart; want load in both", upgraded, restarted)
	}
	c.checkCounts(sessions)
}

// buildFirstRelease builds examples/node at firstRelease, from a git
// worktree removed afterwards, and returns the binary. Without git or the
// commit (a shallow clone) it skips, except under CI=true.
func buildFirstRelease(t *testing.T) string {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("CI") == "true" {
		unavailable = t.Fatalf
	}
	if _, err := exec.LookPath("git"); err != nil {
		unavailable("rolling upgrade test needs git to build %s: %v", firstRelease, err)
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		unavailable("rolling upgrade test needs a git checkout to build %s: %v", firstRelease, err)
	}
	repo := strings.TrimSpace(string(out))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", firstRelease+"^{commit}").Run(); err != nil {
		unavailable("rolling upgrade test needs commit %s (a shallow clone? fetch the full history): %v", firstRelease, err)
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if out, err := exec.Command("git", "-C", repo, "worktree", "add", "--detach", src, firstRelease).CombinedOutput(); err != nil {
		t.Fatalf("git worktree add %s: %v\n%s", firstRelease, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("git", "-C", repo, "worktree", "remove", "--force", src).CombinedOutput(); err != nil {
			t.Errorf("git worktree remove %s: %v\n%s", src, err, out)
		}
	})
	bin := filepath.Join(tmp, "node-"+firstRelease)
	build := exec.Command("go", "build", "-o", bin, "./examples/node")
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/node at %s: %v\n%s", firstRelease, err, out)
	}
	return bin
}

// procInfo is what the test knows of one node process.
type procInfo struct {
	log             string
	old             bool
	started, exited time.Time
}

// upgradeCluster runs three nodes on loopback at fixed addresses, so a
// node replaced by another build keeps its name and addresses.
type upgradeCluster struct {
	t      *testing.T
	oldBin string
	key    string
	gossip []string
	http   []string

	mu       sync.Mutex // guards the fields below
	nodes    []*labNode
	old      []bool   // node i runs the first release
	logs     []string // node i's log file
	procs    map[*labNode]procInfo
	matched  map[*labNode]int // log lines of failures already matched to requests
	up       []bool           // the load balancer may send requests to node i
	inflight []int            // requests dispatched to node i and not yet answered
}

func newUpgradeCluster(t *testing.T, oldBin string) *upgradeCluster {
	key := make([]byte, 32)
	crand.Read(key)
	c := &upgradeCluster{t: t, oldBin: oldBin, key: hex.EncodeToString(key),
		nodes: make([]*labNode, 3), old: make([]bool, 3), logs: make([]string, 3), up: make([]bool, 3), inflight: make([]int, 3),
		procs: map[*labNode]procInfo{}, matched: map[*labNode]int{}}
	for range 3 {
		c.gossip = append(c.gossip, freeLoopbackPort(t, true))
		c.http = append(c.http, freeLoopbackPort(t, false))
	}
	t.Cleanup(c.killAll)
	return c
}

// freeLoopbackPort returns a 127.0.0.1 address whose port is free for TCP
// (and UDP, for gossip) right now.
func freeLoopbackPort(t *testing.T, udp bool) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		if udp {
			p, err := net.ListenPacket("udp", addr)
			if err != nil {
				l.Close()
				continue
			}
			p.Close()
		}
		l.Close()
		return addr
	}
	t.Fatal("no free loopback port for TCP and UDP")
	return ""
}

func (c *upgradeCluster) name(i int) string { return fmt.Sprintf("u%d", i) }
func (c *upgradeCluster) url(i int) string  { return "http://" + c.http[i] }

// start runs node i, of the first release when old, joining the others,
// and waits until it is ready and takes requests.
func (c *upgradeCluster) start(i int, old bool) {
	t := c.t
	t.Helper()
	args := []string{"-name", c.name(i), "-key", c.key, "-bind", c.gossip[i], "-http", c.http[i]}
	var join []string
	for j := range c.gossip {
		if j != i && c.node(j) != nil {
			join = append(join, c.gossip[j])
		}
	}
	if len(join) > 0 {
		args = append(args, "-join", strings.Join(join, ","))
	}
	build := "new"
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), nodeEnv+"=1")
	if old {
		build = firstRelease
		cmd = exec.Command(c.oldBin, args...)
	}
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s.log", c.name(i), build))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &labNode{name: c.name(i), cmd: cmd, done: make(chan struct{})}
	c.mu.Lock()
	c.procs[n] = procInfo{log: logPath, old: old, started: time.Now()}
	c.mu.Unlock()
	ready := make(chan struct{})
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if st, ok := demo.ParseState(s.Text()); ok && st.State == demo.StateReady {
				close(ready)
			}
		}
	}()
	go func() {
		cmd.Wait()
		logf.Close()
		c.mu.Lock()
		p := c.procs[n]
		p.exited = time.Now()
		c.procs[n] = p
		c.mu.Unlock()
		close(n.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("log of %s (%s build, pid %d):\n%s", n.name, build, cmd.Process.Pid, tail(b, 40))
		}
	})
	select {
	case <-ready:
	case <-n.done:
		t.Fatalf("node %s (%s build) exited before it was ready: %v", n.name, build, cmd.ProcessState)
	case <-time.After(40 * time.Second):
		t.Fatalf("node %s (%s build) not ready after 40s", n.name, build)
	}
	c.mu.Lock()
	c.nodes[i], c.old[i], c.logs[i], c.up[i] = n, old, logPath, true
	c.mu.Unlock()
}

func (c *upgradeCluster) node(i int) *labNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// replace stops node i as a deploy does (drain, SIGTERM, wait for a clean
// exit), starts it again under the same name and addresses from the old or
// the new build, and waits until the cluster has settled.
func (c *upgradeCluster) replace(i int, old bool) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.up[i] = false
	c.mu.Unlock()
	c.quiesce(i)
	c.mu.Lock()
	c.nodes[i] = nil
	c.mu.Unlock()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			c.t.Errorf("%s exited with %d after SIGTERM, want 0", n.name, code)
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s still running 30s after SIGTERM", n.name)
	}
	c.start(i, old)
	c.waitSettled()
}

// quiesce waits until no request picked before node i was drained is still
// in flight there, as a load balancer's connection draining does.
func (c *upgradeCluster) quiesce(i int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		n := c.inflight[i]
		c.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s still has %d requests in flight 30s after draining", c.name(i), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pick dispatches a request as a draining load balancer does; see
// labCluster.pick. It also returns node i's process.
func (c *upgradeCluster) pick(intn func(int) int) (i int, proc *labNode, done func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []int
	for i, u := range c.up {
		if u {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return 0, nil, nil, false
	}
	i = live[intn(len(live))]
	c.inflight[i]++
	return i, c.nodes[i], func() {
		c.mu.Lock()
		c.inflight[i]--
		c.mu.Unlock()
	}, true
}

func (c *upgradeCluster) killAll() {
	for i := range c.nodes {
		c.mu.Lock()
		n := c.nodes[i]
		c.nodes[i], c.up[i] = nil, false
		c.mu.Unlock()
		if n != nil {
			n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.done
		}
	}
}

func (c *upgradeCluster) waitSettled() {
	c.t.Helper()
	for i := range c.nodes {
		waitSettled(c.t, &proc{name: c.name(i), url: c.url(i)}, len(c.nodes))
	}
}

// clusterVersion returns the cluster version in node i's /status (0 when
// it has none) and the document, or the error, for a failure message.
func (c *upgradeCluster) clusterVersion(i int) (int, string) {
	r, err := tryCall("GET", c.url(i)+"/status", nil)
	if err != nil {
		return 0, err.Error()
	}
	var st struct {
		ClusterVersion int `json:"cluster_version"`
	}
	json.Unmarshal(r.body, &st)
	return st.ClusterVersion, string(r.body)
}

// waitClusterVersion waits until every node's /status reports want as the
// cluster version and has logged the change to it.
func (c *upgradeCluster) waitClusterVersion(want int) {
	c.t.Helper()
	for i := range c.nodes {
		waitFor(c.t, 20*time.Second, fmt.Sprintf("%s at cluster version %d", c.name(i), want), func() (bool, string) {
			v, body := c.clusterVersion(i)
			return v == want, body
		})
		c.mu.Lock()
		logPath := c.logs[i]
		c.mu.Unlock()
		logged := fmt.Sprintf("to=%d", want)
		waitFor(c.t, 5*time.Second, fmt.Sprintf("%s logging the cluster version change", c.name(i)), func() (bool, string) {
			b, _ := os.ReadFile(logPath)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `msg="cluster version changed"`) && strings.Contains(line, logged) {
					return true, line
				}
			}
			return false, "no such line"
		})
	}
}

// incr increments s through node i; see labCluster.incr.
func (c *upgradeCluster) incr(s *labSession, i int) (int, error) {
	r, err := tryCall("POST", c.url(i)+"/api/incr", s.cookie)
	if err != nil {
		s.maybe++
		return 0, err
	}
	if r.code != http.StatusOK {
		s.maybe++
		return 0, fmt.Errorf("POST /api/incr via %s: %d %s", c.name(i), r.code, bytes.TrimSpace(r.body))
	}
	var doc struct {
		Session string `json:"session"`
		Count   int    `json:"count"`
		Owner   string `json:"owner"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return 0, fmt.Errorf("POST /api/incr via %s: %s: %v", c.name(i), r.body, err)
	}
	if r.cookie != nil {
		s.cookie = r.cookie
	}
	if s.id == "" {
		s.id = doc.Session
	}
	if doc.Count <= s.acked || doc.Count > s.acked+1+s.maybe {
		return doc.Count, fmt.Errorf("session %s via %s: count %d after acknowledged %d and %d uncertain increments: %w", s.id, c.name(i), doc.Count, s.acked, s.maybe, errStale)
	}
	s.acked, s.maybe, s.owner = doc.Count, 0, doc.Owner
	return doc.Count, nil
}

// checkCounts increments every session once more (the increments that
// failed before may each have applied or not; this one settles the count),
// then reads it through every node: each must answer exactly the count
// acknowledged last.
func (c *upgradeCluster) checkCounts(sessions []*labSession) {
	c.t.Helper()
	for k, s := range sessions {
		if _, err := c.incr(s, k%3); err != nil {
			c.t.Fatalf("final increment: %v", err)
		}
		for i := range c.nodes {
			r, err := tryCall("GET", c.url(i)+"/api/session", s.cookie)
			var doc struct {
				Count int `json:"count"`
			}
			if err == nil {
				err = json.Unmarshal(r.body, &doc)
			}
			if err != nil || r.code != http.StatusOK || doc.Count != s.acked {
				c.t.Errorf("session %s via %s: %d %s (%v), want count %d", s.id, c.name(i), r.code, r.body, err, s.acked)
			}
		}
	}
}

// upgradeLoad is four clients incrementing sessions through the nodes that
// are up, until stop. Each failed request is kept with the process that
// answered it, to be explained by that process's log.
type upgradeLoad struct {
	c      *upgradeCluster
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	ok       int
	failures []failure
	slowest  time.Duration // the longest request of the phase
}

// failure is one request that failed, answered by proc.
type failure struct {
	proc *labNode
	at   time.Time
	err  error
}

func (c *upgradeCluster) startLoad(sessions []*labSession) *upgradeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &upgradeLoad{c: c, cancel: cancel}
	locks := make([]sync.Mutex, len(sessions))
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for ctx.Err() == nil {
				k := r.IntN(len(sessions))
				locks[k].Lock()
				i, proc, done, up := c.pick(r.IntN)
				if !up {
					locks[k].Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				began := time.Now()
				_, err := c.incr(sessions[k], i)
				took := time.Since(began)
				done()
				locks[k].Unlock()
				l.record(proc, err, took)
			}
		}()
	}
	c.t.Cleanup(func() { l.stop() })
	return l
}

func (l *upgradeLoad) record(proc *labNode, err error, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, took)
	if err == nil {
		l.ok++
		return
	}
	if errors.Is(err, errStale) {
		l.c.t.Error(err)
	}
	l.failures = append(l.failures, failure{proc, time.Now(), err})
}

// phase returns the outcome of the requests since the last call.
func (l *upgradeLoad) phase() (ok int, failures []failure, slowest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, failures, slowest = l.ok, l.failures, l.slowest
	l.ok, l.failures, l.slowest = 0, nil, 0
	return ok, failures, slowest
}

// stop ends the load and returns the outcome of the last phase.
func (l *upgradeLoad) stop() (ok int, failures []failure, slowest time.Duration) {
	l.cancel()
	l.wg.Wait()
	return l.phase()
}

// oldGrace is how long after a first-release node exits a lease it
// dropped may still fail a request: the request was running under the
// lock when the node handed its partitions over.
const oldGrace = time.Second

// classify splits failures into those the first release explains and the
// rest, described for an error message. A failure is explained only if it
// was a 503 whose cause, as the answering process logged it, is a lost
// lock lease, while a first-release node was in the cluster (or within
// oldGrace of its exit): such a node drops the leases of the partitions it
// hands over, on its leave and when a new node joins.
func (c *upgradeCluster) classify(failures []failure) (explained int, refused []string) {
	logged := map[*labNode][]logLine{}
	for _, f := range failures {
		if _, ok := logged[f.proc]; !ok {
			logged[f.proc] = c.middlewareFailures(f.proc)
		}
		var line logLine
		if lines := logged[f.proc]; len(lines) > 0 {
			line, logged[f.proc] = lines[0], lines[1:]
			c.mu.Lock()
			c.matched[f.proc]++
			c.mu.Unlock()
		}
		switch {
		case !strings.Contains(f.err.Error(), ": 503 "):
			refused = append(refused, f.err.Error())
		case line.text == "":
			refused = append(refused, fmt.Sprintf("%v (no matching failure in the log of %s)", f.err, f.proc.name))
		case strings.Contains(line.text, "lease lost") && c.oldRunning(line.at):
			explained++
			c.t.Logf("explained: %v: %s", f.err, line.text)
		default:
			refused = append(refused, fmt.Sprintf("%v: %s", f.err, line.text))
		}
	}
	return explained, refused
}

// logLine is one "session middleware failed" line of a node's log.
type logLine struct {
	at   time.Time
	text string
}

// middlewareFailures returns the failures proc logged, in order, after
// those already matched to a failed request.
func (c *upgradeCluster) middlewareFailures(proc *labNode) []logLine {
	c.mu.Lock()
	path, skip := c.procs[proc].log, c.matched[proc]
	c.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		c.t.Errorf("reading the log of %s: %v", proc.name, err)
	}
	var out []logLine
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="session middleware failed"`) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			c.t.Errorf("log line of %s without a time: %s", proc.name, line)
		}
		out = append(out, logLine{at, line})
	}
	return out[min(skip, len(out)):]
}

// oldRunning reports whether a first-release node ran at t, or had exited
// at most oldGrace before.
func (c *upgradeCluster) oldRunning(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.old && !t.Before(p.started) && (p.exited.IsZero() || t.Before(p.exited.Add(oldGrace))) {
			return true
		}
	}
	return false
}
