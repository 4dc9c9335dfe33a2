package main

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
	"github.com/e5b1d45c/sessring/internal/netlab"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// The multi-host tests run each node in its own network namespace (a host
// with its own address on a bridge, see internal/netlab), started exactly
// as the README deploys one: bound to the wildcard address with a cluster
// key, joining the others by their addresses. The test process is the
// bridge's gateway: it plays the clients and the load balancer.

const (
	labGossipPort = 7946
	labHTTPPort   = 8080
)

// requireLab returns a lab of n hosts, removed when the test ends; it skips
// where namespaces are unavailable (not root, no ip or nft), except under
// CI=true, where that is a failure.
func requireLab(t *testing.T, n int) *netlab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-host test: starts network namespaces and processes")
	}
	if err := netlab.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true requires the multi-host tests to run: %v", err)
		}
		t.Skipf("multi-host test skipped: %v", err)
	}
	l, err := netlab.New(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("removing the lab: %v", err)
		}
	})
	return l
}

// labNode is one node process in a lab host.
type labNode struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	exitAt  atomic.Int64  // UnixNano when the process exited; 0 while it runs
	done    chan struct{} // closed when the process exited
}

// exited returns when the process exited (zero while it runs).
func (n *labNode) exited() time.Time {
	if at := n.exitAt.Load(); at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// launch starts cmd as node name, its stderr in the file logPath, and
// waits until it reports ready; a test that fails shows the log's tail.
// what names the node in messages ("n1", "n1 (first release)").
func launch(t *testing.T, cmd *exec.Cmd, name, what, logPath string) *labNode {
	t.Helper()
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
	n := &labNode{name: name, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
		n.exitAt.Store(time.Now().UnixNano())
		close(n.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("log of %s (pid %d):\n%s", what, cmd.Process.Pid, tail(b, 60))
		}
	})
	select {
	case <-ready:
	case <-n.done:
		t.Fatalf("node %s exited before it was ready: %v", what, cmd.ProcessState)
	case <-time.After(40 * time.Second):
		t.Fatalf("node %s not ready after 40s", what)
	}
	return n
}

// labCluster runs one node per lab host, or with no lab, every node as a
// process on loopback with ports of its own that a restart keeps. up tells
// which nodes a draining load balancer may send requests to.
type labCluster struct {
	t    *testing.T
	lab  *netlab.Lab // nil: loopback
	loop [][2]int    // without a lab: node i's gossip and HTTP ports
	key  string
	v6   bool
	args []string // more flags for every node
	// seeds, when set, is every node's -join, the first node's included (as
	// a StatefulSet's pods all get the same seed list); otherwise node 0
	// starts the cluster and the others join it by address.
	seeds []string
	// moves makes a rolling restart start each node again in a spare lab
	// host (see move), at a new address; it needs seeds that cover it.
	moves bool

	labBalancer // the node processes and the load balancer in front of them

	hostMu sync.Mutex // guards hosts
	hosts  []int      // with a lab: the lab host node i runs in
}

// newLabCluster starts a node on every host of a new lab of n hosts (host
// 0 first, the others joining it) and waits until every node sees all and
// has pulled its share. With v6, nodes bind [::] and join by IPv6 address.
// args are more flags for every node.
func newLabCluster(t *testing.T, n int, v6 bool, args ...string) *labCluster {
	t.Helper()
	c := newCluster(t, n, args)
	c.lab, c.v6 = requireLab(t, n), v6
	c.boot(n)
	return c
}

// newLoopCluster is newLabCluster with every node on loopback (127.0.0.1),
// each on gossip and HTTP ports of its own.
func newLoopCluster(t *testing.T, n int, args ...string) *labCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := newCluster(t, n, args)
	for range n {
		c.loop = append(c.loop, [2]int{freeGossipPort(t), freePort(t)})
	}
	c.boot(n)
	return c
}

func newCluster(t *testing.T, n int, args []string) *labCluster {
	key := make([]byte, 32)
	crand.Read(key)
	return &labCluster{t: t, key: hex.EncodeToString(key), args: args, labBalancer: newLabBalancer(n)}
}

// boot starts the n nodes, node i in lab host i.
func (c *labCluster) boot(n int) {
	t := c.t
	t.Helper()
	c.hosts = make([]int, n)
	for i := range c.hosts {
		c.hosts[i] = i
	}
	t.Cleanup(c.killAll)
	for i := range n {
		join := c.seeds
		if join == nil && i > 0 {
			join = []string{c.gossipAddr(0)}
		}
		c.start(i, join)
	}
	c.waitSettled(n)
}

// freeGossipPort returns a port of 127.0.0.1 free for both TCP and UDP,
// for a node to bind now and again after a restart. It is drawn from below
// the kernel's ephemeral range: a port from inside it could be handed to
// any socket bound to port 0 in the meantime (another node's peer
// listener, a client connection), and the node would then fail to start.
func freeGossipPort(t *testing.T) int {
	t.Helper()
	low := ephemeralLow()
	for range 200 {
		port := low/2 + rand.N(low/2)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				u.Close()
				return port
			}
		}
	}
	t.Fatalf("no port of 127.0.0.1 below %d free for both TCP and UDP in 200 tries", low)
	return 0
}

// freePort is freeGossipPort, for a TCP port (the same checks, a few more
// than needed).
func freePort(t *testing.T) int { return freeGossipPort(t) }

// ephemeralLow is the first port of the kernel's ephemeral range (Linux
// /proc/sys/net/ipv4/ip_local_port_range), 32768 where unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 2048 {
		return 32768
	}
	return n
}

func (c *labCluster) name(i int) string { return fmt.Sprintf("h%d", i) }

// addr is node i's address for a lab port (labGossipPort or labHTTPPort).
func (c *labCluster) addr(i, port int) string {
	if c.lab == nil {
		if port == labHTTPPort {
			return fmt.Sprintf("127.0.0.1:%d", c.loop[i][1])
		}
		return fmt.Sprintf("127.0.0.1:%d", c.loop[i][0])
	}
	if c.v6 {
		return c.lab.Hosts[c.host(i)].Addr6(port)
	}
	return c.lab.Hosts[c.host(i)].Addr(port)
}

func (c *labCluster) gossipAddr(i int) string { return c.addr(i, labGossipPort) }

// url is node i's app address, as a load balancer reaches it.
func (c *labCluster) url(i int) string { return "http://" + c.addr(i, labHTTPPort) }

// others lists the gossip addresses of every node but i: a restarted node's
// seeds.
func (c *labCluster) others(i int) []string {
	var s []string
	for j := range c.size() {
		if j != i {
			s = append(s, c.gossipAddr(j))
		}
	}
	return s
}

// start runs node i in its host and waits until it is ready.
func (c *labCluster) start(i int, join []string) {
	t := c.t
	t.Helper()
	args := append([]string{"-name", c.name(i)}, c.args...)
	if len(join) > 0 {
		args = append(args, "-join", strings.Join(join, ","))
	}
	var cmd *exec.Cmd
	if c.lab == nil {
		args = append(args, "-bind", c.gossipAddr(i), "-http", c.addr(i, labHTTPPort))
		cmd = exec.Command(os.Args[0], args...)
	} else {
		wild := "0.0.0.0"
		if c.v6 {
			wild = "[::]"
		}
		args = append(args, "-bind", fmt.Sprintf("%s:%d", wild, labGossipPort), "-http", fmt.Sprintf("%s:%d", wild, labHTTPPort))
		cmd = c.lab.Hosts[c.host(i)].Command(os.Args[0], args...)
	}
	cmd.Env = append(os.Environ(), nodeEnv+"=1", keyEnv+"="+c.key) // the key as Kubernetes passes a Secret
	c.serve(i, launch(t, cmd, c.name(i), c.name(i), filepath.Join(t.TempDir(), c.name(i)+".log")))
}

// host is the lab host node i runs in.
func (c *labCluster) host(i int) int {
	c.hostMu.Lock()
	defer c.hostMu.Unlock()
	return c.hosts[i]
}

// move makes node i run in a lab host no node uses, from its next start:
// a restart at a new address under the same name, as a Kubernetes pod
// gets a new IP each time. Node i must be stopped.
func (c *labCluster) move(i int) {
	c.hostMu.Lock()
	defer c.hostMu.Unlock()
	for h := range c.lab.Hosts {
		if !slices.Contains(c.hosts, h) {
			c.hosts[i] = h
			return
		}
	}
	c.t.Fatalf("no free lab host to move %s to", c.name(i))
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// quiesce waits until node i's requests in flight are done (see
// labBalancer.quiesce).
func (c *labCluster) quiesce(i int) {
	c.t.Helper()
	c.labBalancer.quiesce(c.t, i, c.name(i))
}

// kill crashes node i (SIGKILL) and waits until it is gone.
func (c *labCluster) kill(i int) {
	n := c.drain(i)
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// term stops node i as a deploy does (SIGTERM) and waits for its exit,
// which must be clean.
func (c *labCluster) term(i int) {
	c.t.Helper()
	n := c.drain(i)
	c.quiesce(i)
	n.terminate(c.t)
}

func (c *labCluster) signal(i int, sig syscall.Signal) {
	n := c.node(i)
	if n == nil {
		return
	}
	n.cmd.Process.Signal(sig)
	if sig == syscall.SIGSTOP {
		// The stop takes effect as each thread next enters the kernel:
		// on a busy machine a node has served requests for milliseconds
		// after kill returned. Wait until every thread is stopped.
		pid := n.cmd.Process.Pid
		testkit.EventuallyWhy(c.t, 10*time.Second, fmt.Sprintf("%s (pid %d) stopped", c.name(i), pid), func() (bool, string) {
			return allThreadsStopped(pid)
		})
	}
}

// allThreadsStopped reports whether every thread of pid is in state T
// (stopped), and if not, which one runs.
func allThreadsStopped(pid int) (bool, string) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, err.Error()
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false, err.Error()
		}
		// "pid (comm) S ...": the state follows the last ')'.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return false, fmt.Sprintf("thread %s: unreadable stat %q", task.Name(), stat)
		}
		if f[0][0] != 'T' && f[0][0] != 't' {
			return false, fmt.Sprintf("thread %s is in state %q", task.Name(), f[0])
		}
	}
	return true, ""
}

// waitSettled waits until every running node sees members members and has
// pulled its partitions.
func (c *labCluster) waitSettled(members int) {
	c.t.Helper()
	for _, i := range c.live() {
		waitSettled(c.t, &proc{name: c.name(i), url: c.url(i)}, members)
	}
}

// labSession is a client's view of one session: its cookie and the counts
// it may hold. Only one goroutine uses a labSession at a time.
type labSession struct {
	cookie *http.Cookie
	id     string
	owner  string
	acked  int // count of the last acknowledged increment
	maybe  int // increments that failed after it: each may have applied
}

// incr increments s through node i: ok with the new count, or the error.
func (c *labCluster) incr(s *labSession, i int) (int, error) { return s.incrAt(c.url(i), c.name(i)) }

// incrAt increments s through the node named name at base URL url. A
// failed call leaves the increment uncertain (it may have applied); an
// answer outside what the acknowledged and uncertain increments allow is
// errStale.
func (s *labSession) incrAt(url, name string) (int, error) {
	r, err := tryCall("POST", url+"/api/incr", s.cookie)
	if err != nil {
		s.maybe++
		return 0, err
	}
	if r.code != http.StatusOK {
		s.maybe++
		return 0, fmt.Errorf("POST /api/incr via %s: %d %s", name, r.code, bytes.TrimSpace(r.body))
	}
	var doc struct {
		Session string `json:"session"`
		Count   int    `json:"count"`
		Owner   string `json:"owner"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return 0, fmt.Errorf("POST /api/incr via %s: %s: %v", name, r.body, err)
	}
	if r.cookie != nil {
		s.cookie = r.cookie
	}
	if s.id == "" {
		s.id = doc.Session
	}
	if doc.Count <= s.acked || doc.Count > s.acked+1+s.maybe {
		return doc.Count, fmt.Errorf("session %s via %s: count %d after acknowledged %d and %d uncertain increments: %w", s.id, name, doc.Count, s.acked, s.maybe, errStale)
	}
	s.acked, s.maybe, s.owner = doc.Count, 0, doc.Owner
	return doc.Count, nil
}

// read returns s's count through node i.
func (c *labCluster) read(s *labSession, i int) (int, error) {
	return c.readWith(client, s, i)
}

// readWith is read through cl: a client that gives up sooner counts a node
// that takes too long to answer as refusing.
func (c *labCluster) readWith(cl *http.Client, s *labSession, i int) (int, error) {
	req, err := http.NewRequest("GET", c.url(i)+"/api/session", nil)
	if err != nil {
		return 0, err
	}
	if s.cookie != nil {
		req.AddCookie(s.cookie)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := apiResult{code: resp.StatusCode, body: body}
	if err != nil {
		return 0, err
	}
	if r.code != http.StatusOK {
		return 0, fmt.Errorf("GET /api/session via %s: %d %s", c.name(i), r.code, r.body)
	}
	var doc struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return 0, err
	}
	if doc.Count < s.acked || doc.Count > s.acked+s.maybe {
		return doc.Count, fmt.Errorf("session %s via %s: read count %d, acknowledged %d with %d uncertain increments: %w", s.id, c.name(i), doc.Count, s.acked, s.maybe, errStale)
	}
	return doc.Count, nil
}

var errStale = errors.New("stale or lost count")

// checkAll reads every session through every live node; each must return
// its acknowledged count (or one of the uncertain ones after it).
func (c *labCluster) checkAll(sessions []*labSession) {
	c.t.Helper()
	for _, s := range sessions {
		for _, i := range c.live() {
			var last error
			testkit.EventuallyWhy(c.t, 20*time.Second, fmt.Sprintf("session %s readable via %s", s.id, c.name(i)), func() (bool, string) {
				_, last = c.read(s, i)
				if errors.Is(last, errStale) {
					c.t.Fatal(last)
				}
				return last == nil, fmt.Sprint(last)
			})
		}
	}
}
