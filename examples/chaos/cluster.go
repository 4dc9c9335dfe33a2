package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one running node process.
type proc struct {
	http   string // host:port of its driver API
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
}

// slot is one cluster position: a fixed name and gossip address, so a
// restarted process keeps its placement.
type slot struct {
	name   string
	gossip string
	p      *proc // nil while down
}

// cluster tracks the slots. Workers pick among live slots; the nemesis marks
// a slot down before it signals the process.
type cluster struct {
	key     []byte
	verbose bool
	mu      sync.Mutex
	slots   []*slot
}

func newCluster(n int, key []byte, verbose bool) (*cluster, error) {
	c := &cluster{key: key, verbose: verbose}
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.slots = append(c.slots, &slot{
			name:   fmt.Sprintf("chaos-%d", i),
			gossip: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		})
	}
	return c, nil
}

// startAll starts slot 0 as a new cluster and the others joining it.
func (c *cluster) startAll() error {
	for i := range c.slots {
		var join []string
		if i > 0 {
			join = []string{c.slots[0].gossip}
		}
		if err := c.start(i, join); err != nil {
			return err
		}
	}
	return nil
}

// restart starts slot i again, joining through the other slots.
func (c *cluster) restart(i int) error {
	var join []string
	for j, s := range c.slots {
		if j != i {
			join = append(join, s.gossip)
		}
	}
	return c.start(i, join)
}

func (c *cluster) start(i int, join []string) error {
	s := c.slots[i]
	spec := nodeSpec{Name: s.name, Bind: s.gossip, Join: join, Key: c.key, Members: len(c.slots), Verbose: c.verbose}
	var err error
	for attempt := range 3 { // the gossip port may still be held briefly after a kill
		var p *proc
		if p, err = launch(spec); err == nil {
			c.mu.Lock()
			s.p = p
			c.mu.Unlock()
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	return err
}

func launch(spec nodeSpec) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &proc{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
		cmd.Wait() // a killed node's exit status is expected
		close(p.exited)
	}()
	select {
	case l := <-line:
		if f := strings.Fields(l); len(f) == 2 && f[0] == "READY" {
			p.http = f[1]
			return p, nil
		}
		p.signal(syscall.SIGKILL)
		return nil, fmt.Errorf("node %s: %q", spec.Name, l)
	case <-time.After(40 * time.Second):
		p.signal(syscall.SIGKILL)
		return nil, fmt.Errorf("node %s did not start within 40s", spec.Name)
	}
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig syscall.Signal) {
	p.cmd.Process.Signal(sig) // fails only if it already exited
	<-p.exited
}

// down marks slot i down and returns its process.
func (c *cluster) down(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.slots[i].p
	c.slots[i].p = nil
	return p
}

// pick returns the API address of a random live node, or "" if none.
func (c *cluster) pick(r *rand.Rand) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []string
	for _, s := range c.slots {
		if s.p != nil {
			live = append(live, s.p.http)
		}
	}
	if len(live) == 0 {
		return ""
	}
	return live[r.IntN(len(live))]
}

// healthy reports whether every slot is up and answers /healthz with 200.
func (c *cluster) healthy(client *http.Client) bool {
	c.mu.Lock()
	var addrs []string
	for _, s := range c.slots {
		if s.p == nil {
			c.mu.Unlock()
			return false
		}
		addrs = append(addrs, s.p.http)
	}
	c.mu.Unlock()
	for _, a := range addrs {
		resp, err := client.Get("http://" + a + "/healthz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// waitHealthy polls healthy until it holds or timeout passes.
func (c *cluster) waitHealthy(client *http.Client, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if c.healthy(client) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopAll kills every node: the cluster is throwaway.
func (c *cluster) stopAll() {
	for i := range c.slots {
		if p := c.down(i); p != nil {
			p.stdin.Close()
			p.signal(syscall.SIGKILL)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
