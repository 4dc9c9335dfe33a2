package main

import (
	"context"
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
	"github.com/e5b1d45c/sessring/internal/netlab"
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
	gossip string       // the address the other slots join
	host   *netlab.Host // the slot's network namespace; nil on loopback
	p      *node        // nil while down
}

// Ports of a node in its own namespace, where nothing else binds: fixed, so a
// restarted node is found at the same address.
const (
	labGossipPort = 7946
	labHTTPPort   = 8080
)

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

// newLabCluster places slot i in lab host i, bound to the wildcard address
// as a node on its own machine would be.
func newLabCluster(lab *netlab.Lab, key []byte, verbose bool) *cluster {
	c := &cluster{key: key, verbose: verbose}
	for i, h := range lab.Hosts {
		c.slots = append(c.slots, &slot{name: fmt.Sprintf("chaos-%d", i), gossip: h.Addr(labGossipPort), host: h})
	}
	return c
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
	spec := nodeSpec{Name: s.name, Bind: s.gossip, HTTP: "127.0.0.1:0", Join: join, Key: c.key, Members: len(c.slots), Verbose: c.verbose}
	if s.host != nil {
		spec.Bind = net.JoinHostPort("0.0.0.0", strconv.Itoa(labGossipPort))
		spec.HTTP = net.JoinHostPort("0.0.0.0", strconv.Itoa(labHTTPPort))
	}
	var err error
	for attempt := range 3 { // the gossip port may still be held briefly after a kill
		var p *node
		if p, err = launch(spec, s.host); err == nil {
			c.mu.Lock()
			s.p = p
			c.mu.Unlock()
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	return err
}

// launch starts a node process, inside host unless it is nil, and parses
// its first line, "READY <http-addr>"; anything else stops the node.
func launch(spec nodeSpec, host *netlab.Host) (*node, error) {
	raw, _ := json.Marshal(spec)
	cmd, err := proc.Self(childEnv + "=" + string(raw))
	if err != nil {
		return nil, err
	}
	if host != nil {
		// `ip netns exec` execs the node: signals reach it directly, and the
		// parent-death signal set on the command survives the exec.
		inNS := host.Command(cmd.Path)
		inNS.Env, inNS.Stderr, inNS.SysProcAttr = cmd.Env, cmd.Stderr, cmd.SysProcAttr
		cmd = inNS
	}
	n := &node{}
	n.child, err = proc.Start(cmd, 40*time.Second, proc.Expect("READY", &n.http))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", spec.Name, err)
	}
	if host != nil { // it printed its wildcard listener; the driver dials the host
		_, port, _ := net.SplitHostPort(n.http)
		n.http = net.JoinHostPort(host.IP.String(), port)
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

// up returns slot i's process, nil while it is down.
func (c *cluster) up(i int) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slots[i].p
}

// pick returns the API address and name of a random live node, or "" if
// none. A paused node is live: clients keep sending to it, as a load balancer
// would.
func (c *cluster) pick(r *rand.Rand) (addr, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []*slot
	for _, s := range c.slots {
		if s.p != nil {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return "", ""
	}
	s := live[r.IntN(len(live))]
	return s.p.http, s.name
}

// healthy reports whether every slot is up and answers /healthz with 200.
func (c *cluster) healthy(ctx context.Context, client *http.Client) bool {
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
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/healthz", nil)
		resp, err := client.Do(req)
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

// waitHealthy polls healthy until it holds, timeout passes or ctx ends.
func (c *cluster) waitHealthy(ctx context.Context, client *http.Client, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if c.healthy(ctx, client) {
			return true
		}
		if time.Now().After(deadline) || !sleep(ctx, 100*time.Millisecond) {
			return false
		}
	}
}

// sleep waits d, or less if ctx ends first: it reports whether ctx is live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newClient returns an HTTP client that never uses a proxy from the
// environment: the driver talks only to its nodes.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
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
