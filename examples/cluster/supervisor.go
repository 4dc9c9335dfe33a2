package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

// childEnv marks a child process: with it set, the command runs one demo
// node (see runChild) instead of a cluster.
const childEnv = "SESSRING_CLUSTER_CHILD"

// readyTimeout bounds a node's start: the store's JoinTimeout (30s) plus
// process start-up.
const readyTimeout = 40 * time.Second

var (
	errUnknownNode = errors.New("no such node")
	errRunning     = errors.New("already running")
	errNotRunning  = errors.New("not running")
)

// supervisor runs the demo's nodes as child processes of this command, so
// that "crash" is a real SIGKILL of a real process: no handover, no leave
// message, sockets closed by the kernel. A restarted node reuses its name
// and both its addresses, as a restarted server would.
type supervisor struct {
	exe    string   // this executable, re-run in child mode
	common []string // flags every node gets
	key    string   // the cluster key in hex, passed in the environment
	stdout io.Writer
	stderr io.Writer // the nodes' logs

	// mu guards the nodes' process fields.
	mu    sync.Mutex
	nodes []*child
}

// child is one node; its addresses are fixed by its first start.
type child struct {
	name   string
	url    string // http://127.0.0.1:port
	gossip string // 127.0.0.1:port

	p *proc.Child // the last process started; nil before the first
}

// newSupervisor returns a supervisor for the named nodes, which share a
// fresh random cluster key: the demo's nodes authenticate each other, so no
// other local process can read their sessions through the peer port.
func newSupervisor(exe string, names, common []string, stdout, stderr io.Writer) *supervisor {
	key := make([]byte, 32)
	rand.Read(key)
	s := &supervisor{exe: exe, common: common, key: hex.EncodeToString(key), stdout: stdout, stderr: stderr}
	for _, n := range names {
		s.nodes = append(s.nodes, &child{name: n})
	}
	return s
}

func (s *supervisor) find(name string) (*child, error) {
	for _, c := range s.nodes {
		if c.name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w %q", errUnknownNode, name)
}

// runningLocked reports whether c's process is alive; s.mu must be held.
func (c *child) runningLocked() bool {
	return c.p != nil && !c.p.Exited()
}

// start launches the named node and returns once it has joined. It joins
// through every other running node (none: it starts a new cluster).
func (s *supervisor) start(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.find(name)
	if err != nil {
		return err
	}
	if c.runningLocked() {
		return fmt.Errorf("%s: %w", name, errRunning)
	}
	var join []string
	for _, o := range s.nodes {
		if o != c && o.runningLocked() {
			join = append(join, o.gossip)
		}
	}
	return s.launchLocked(c, join)
}

// launchLocked starts c's process and waits for its ready line. The
// node's other lines go to s.stdout.
func (s *supervisor) launchLocked(c *child, join []string) error {
	httpAddr, bind := "127.0.0.1:0", "127.0.0.1:0"
	if c.url != "" {
		httpAddr, bind = strings.TrimPrefix(c.url, "http://"), c.gossip
	}
	args := append([]string{"-name", c.name, "-http", httpAddr, "-bind", bind, "-join", strings.Join(join, ",")}, s.common...)
	cmd := exec.Command(s.exe, args...)
	// The key goes in the environment, not on the command line, which
	// every local user can read.
	cmd.Env = append(os.Environ(), childEnv+"=1", demo.KeyEnv+"="+s.key)
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	proc.OwnGroup(cmd)
	var st demo.State
	p, err := proc.Start(cmd, readyTimeout, func(line string) (bool, error) {
		var ok bool
		if st, ok = demo.ParseState(line); !ok {
			fmt.Fprintln(s.stdout, line)
		}
		return ok && st.State == demo.StateReady, nil
	})
	switch {
	case errors.Is(err, proc.ErrExited):
		return fmt.Errorf("%s: %w (see its log above)", c.name, err)
	case err != nil:
		return fmt.Errorf("%s: %w", c.name, err)
	}
	c.p, c.url, c.gossip = p, st.URL, st.Gossip
	return nil
}

// kill crashes the named node with SIGKILL and waits until it is gone.
func (s *supervisor) kill(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.find(name)
	if err != nil {
		return err
	}
	if !c.runningLocked() {
		return fmt.Errorf("%s: %w", name, errNotRunning)
	}
	c.p.Kill()
	return nil
}

// stopAll asks the running nodes to leave gracefully (closing their
// stdin), one after the other so that each can hand its sessions to the
// ones still there, killing any that takes longer than each. Before the
// next one goes, the remaining nodes must have seen the departure, or the
// next one would try to hand its sessions to the node that just left.
func (s *supervisor) stopAll(each time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.nodes) - 1; i >= 0; i-- {
		c := s.nodes[i]
		if !c.runningLocked() {
			continue
		}
		c.p.Stop(each)
		s.waitMembersLocked(time.Now().Add(each))
	}
}

// waitMembersLocked waits until every running node reports (on /healthz)
// as many members as there are running nodes, or until deadline.
func (s *supervisor) waitMembersLocked(deadline time.Time) {
	var running []*child
	for _, c := range s.nodes {
		if c.runningLocked() {
			running = append(running, c)
		}
	}
	client := &http.Client{Timeout: time.Second}
	for _, c := range running {
		for time.Now().Before(deadline) && members(client, c.url) != len(running) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// members is the member count a node reports on /healthz; -1 if unknown.
func members(client *http.Client, url string) int {
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var h struct {
		Members *int `json:"members"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil || h.Members == nil {
		return -1
	}
	return *h.Members
}

// snapshot lists the nodes with their URL and whether they run, in order.
func (s *supervisor) snapshot() []nodeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	infos := make([]nodeInfo, len(s.nodes))
	for i, c := range s.nodes {
		infos[i] = nodeInfo{Name: c.name, URL: c.url, Gossip: c.gossip, Running: c.runningLocked()}
		if infos[i].Running {
			infos[i].PID = c.p.Pid()
		}
	}
	return infos
}

// runningCount is the number of nodes running.
func (s *supervisor) runningCount() int {
	n := 0
	for _, i := range s.snapshot() {
		if i.Running {
			n++
		}
	}
	return n
}

// nodeInfo describes one node for the balancer and the start-up banner.
type nodeInfo struct {
	Name, URL, Gossip string
	Running           bool
	PID               int
}
