package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

// node is one running node process.
type node struct {
	http  string // host:port of its driver API
	child *proc.Child
}

// slot is one cluster position: a fixed name and gossip address, so a
// restarted process keeps its placement.
type slot struct {
	name   string
	gossip string
	p      *node // nil while down
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
		var p *node
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

// launch starts a node process and parses its first line,
// "READY <http-addr>"; anything else stops the node.
func launch(spec nodeSpec) (*node, error) {
	raw, _ := json.Marshal(spec)
	cmd, err := proc.Self(childEnv + "=" + string(raw))
	if err != nil {
		return nil, err
	}
	n := &node{}
	n.child, err = proc.Start(cmd, 40*time.Second, proc.Expect("READY", &n.http))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", spec.Name, err)
	}
	return n, nil
}

// down marks slot i down and returns its process.
func (c *cluster) down(i int) *node {
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
			p.child.Stop(0)
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
