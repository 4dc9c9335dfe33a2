package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// procInfo is what the test knows of one node process.
type procInfo struct {
	log    string
	old    bool
	termed time.Time // when it was sent SIGTERM
}

// upgradeCluster runs three nodes on loopback at fixed addresses, so a
// node replaced by another build keeps its name and addresses.
type upgradeCluster struct {
	t      *testing.T
	oldBin string
	key    string
	gossip []string
	http   []string

	labBalancer // the node processes and the load balancer in front of them

	mu      sync.Mutex // guards the fields below
	logs    []string   // node i's log file
	procs   map[*labNode]procInfo
	matched map[*labNode]int // log lines of failures already matched to requests
}

func newUpgradeCluster(t *testing.T, oldBin string) *upgradeCluster {
	key := make([]byte, 32)
	crand.Read(key)
	c := &upgradeCluster{t: t, oldBin: oldBin, key: hex.EncodeToString(key),
		labBalancer: newLabBalancer(3), logs: make([]string, 3),
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
	n := launch(t, cmd, c.name(i), fmt.Sprintf("%s (%s build)", c.name(i), build), logPath)
	c.mu.Lock()
	c.procs[n] = procInfo{log: logPath, old: old}
	c.logs[i] = logPath
	c.mu.Unlock()
	c.serve(i, n)
}

// replace stops node i as a deploy does (drain, SIGTERM, wait for a clean
// exit), starts it again under the same name and addresses from the old or
// the new build, and waits until the cluster has settled.
func (c *upgradeCluster) replace(i int, old bool) {
	c.t.Helper()
	n := c.drain(i)
	c.quiesce(i)
	c.mu.Lock()
	p := c.procs[n]
	p.termed = time.Now()
	c.procs[n] = p
	c.mu.Unlock()
	n.terminate(c.t)
	c.start(i, old)
	c.waitSettled()
}

// quiesce waits until node i's requests in flight are done (see
// labBalancer.quiesce).
func (c *upgradeCluster) quiesce(i int) {
	c.t.Helper()
	c.labBalancer.quiesce(c.t, i, c.name(i))
}

func (c *upgradeCluster) waitSettled() {
	c.t.Helper()
	for i := range c.size() {
		waitSettled(c.t, &proc{name: c.name(i), url: c.url(i)}, c.size())
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
	for i := range c.size() {
		testkit.EventuallyWhy(c.t, 20*time.Second, fmt.Sprintf("%s at cluster version %d", c.name(i), want), func() (bool, string) {
			v, body := c.clusterVersion(i)
			return v == want, body
		})
		c.mu.Lock()
		logPath := c.logs[i]
		c.mu.Unlock()
		logged := fmt.Sprintf("to=%d", want)
		testkit.EventuallyWhy(c.t, 5*time.Second, fmt.Sprintf("%s logging the cluster version change", c.name(i)), func() (bool, string) {
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

// incr increments s through node i; see labSession.incrAt.
func (c *upgradeCluster) incr(s *labSession, i int) (int, error) {
	return s.incrAt(c.url(i), c.name(i))
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
		for i := range c.size() {
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

// checkVersionHeld fails the test if a node of this build logged a move to
// a cluster version above V1 before the last first-release node was told
// to stop: until it leaves, the cluster must write only what it reads. (It
// may rise while that node hands over and leaves, before its process
// exits. A crashed old node holds the version until it is forgotten:
// store/TestClusterVersionKeepsLostMembers.)
func (c *upgradeCluster) checkVersionHeld() {
	c.t.Helper()
	c.mu.Lock()
	var lastOld time.Time
	var logs []string
	for _, p := range c.procs {
		if p.old && p.termed.After(lastOld) {
			lastOld = p.termed
		} else if !p.old {
			logs = append(logs, p.log)
		}
	}
	c.mu.Unlock()
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, `msg="cluster version changed"`) || strings.Contains(line, " to=1 ") {
				continue
			}
			at, ok := strings.CutPrefix(strings.Fields(line)[0], "time=")
			when, err := time.Parse(time.RFC3339Nano, at)
			if !ok || err != nil {
				c.t.Fatalf("cannot read the time of %q", line)
			}
			if when.Before(lastOld) {
				c.t.Errorf("%s: the cluster version rose at %s, before the last first-release node was sent SIGTERM at %s", filepath.Base(path), when.Format(time.StampMilli), lastOld.Format(time.StampMilli))
			}
		}
	}
}
