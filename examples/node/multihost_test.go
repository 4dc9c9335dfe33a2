package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMultiHostCluster: three hosts, each node bound to the wildcard address
// with a key, as the README deploys them. The cluster forms, a session is
// forwarded to its owner from every node and replicated, and survives a
// SIGKILL of its owner with its count intact. Over IPv4 and IPv6.
func TestMultiHostCluster(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
	}{{"ipv4", false}, {"ipv6", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLabCluster(t, 3, tc.v6)
			var sessions []*labSession
			for k := range 6 { // enough that most are owned by another node than the one asked
				s := &labSession{}
				for i := range 3 {
					if _, err := c.incr(s, (k+i)%3); err != nil {
						t.Fatal(err)
					}
				}
				sessions = append(sessions, s)
			}
			forwarded := 0
			for _, s := range sessions {
				for i := range 3 {
					if c.name(i) != s.owner {
						forwarded++
					}
				}
			}
			if forwarded == 0 {
				t.Fatalf("no request was served by a non-owner: nothing was forwarded")
			}
			checkPlacement(t, c, sessions[0])

			owner := slices.Index([]string{c.name(0), c.name(1), c.name(2)}, sessions[0].owner)
			c.kill(owner)
			t.Logf("SIGKILLed %s, owner of session %s", c.name(owner), sessions[0].id)
			for _, s := range sessions {
				for _, i := range c.live() {
					if err := retryIncr(c, s, i, 30*time.Second); err != nil {
						t.Fatal(err)
					}
				}
			}
			c.checkAll(sessions)
		})
	}
}

// checkPlacement checks that every node names the same owner and a
// different replica for s, both cluster members.
func checkPlacement(t *testing.T, c *labCluster, s *labSession) {
	t.Helper()
	for _, i := range c.live() {
		r := call(t, "GET", c.url(i)+"/api/session", s.cookie)
		doc := sessionDoc(t, r)
		if doc["owner"] != s.owner || doc["replica"] == "" || doc["replica"] == doc["owner"] {
			t.Errorf("via %s: owner %v replica %v; want owner %s and another node as replica", c.name(i), doc["owner"], doc["replica"], s.owner)
		}
	}
}

// retryIncr increments s through node i until it succeeds or timeout
// passes (a failover makes requests wait or fail for a few seconds).
func retryIncr(c *labCluster, s *labSession, i int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.incr(s, i)
		if err == nil || errors.Is(err, errStale) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMultiHostPartitionAndOneWayCut: five hosts. Under a 3|2 partition the
// minority refuses and the majority serves every session that has a holder
// on its side; under a one-way cut between two hosts no read is stale and no
// acknowledged increment is lost; after each heal every session reads its
// acknowledged count through every node.
func TestMultiHostPartitionAndOneWayCut(t *testing.T) {
	c := newLabCluster(t, 5, false)
	var sessions []*labSession
	for k := range 10 {
		s := &labSession{}
		if _, err := c.incr(s, k%5); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	holders := map[*labSession][2]string{}
	for _, s := range sessions {
		doc := sessionDoc(t, call(t, "GET", c.url(0)+"/api/session", s.cookie))
		holders[s] = [2]string{doc["owner"].(string), doc["replica"].(string)}
	}

	// The whole partition phase must stay well inside LostMemberTTL (30s):
	// beyond it each side forgets the other and serves alone, a split
	// brain the README documents.
	majority, minority := []int{0, 1, 2}, []int{3, 4}
	if err := c.lab.Partition(majority, minority); err != nil {
		t.Fatal(err)
	}
	parted := time.Now()
	t.Log("partitioned h0,h1,h2 | h3,h4")
	// The minority notices within a reach window (1.5s with default gossip
	// timing) and its read leases run out (1s); from then on it refuses
	// reads and writes of every session. A refusal comes only after the
	// request has waited for the cluster (OpTimeout), so all are asked at
	// once; none may answer, let alone with a stale count.
	time.Sleep(3*time.Second - time.Since(parted))
	impatient := &http.Client{Timeout: 6 * time.Second}
	var wg sync.WaitGroup
	for _, i := range minority {
		for _, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n, err := c.readWith(impatient, s, i); err == nil {
					t.Errorf("%s in the minority answered a read of %s (holders %v) %v after the partition: count %d", c.name(i), s.id, holders[s], time.Since(parted).Round(time.Millisecond), n)
				} else if errors.Is(err, errStale) {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("minority refused every read; %v after the partition", time.Since(parted).Round(time.Millisecond))
	// The majority serves every session with a holder on its side.
	onMajority := func(name string) bool { return slices.Contains([]string{"h0", "h1", "h2"}, name) }
	served := 0
	for k, s := range sessions {
		if h := holders[s]; !onMajority(h[0]) && !onMajority(h[1]) {
			continue // both holders cut off: served again after LostMemberTTL only
		}
		if err := retryIncr(c, s, majority[k%3], 15*time.Second); err != nil {
			t.Fatalf("session %s (holders %v) via %s in the majority: %v", s.id, holders[s], c.name(majority[k%3]), err)
		}
		served++
	}
	t.Logf("majority served %d of %d sessions, %v after the partition", served, len(sessions), time.Since(parted).Round(time.Millisecond))
	if d := time.Since(parted); d > 25*time.Second {
		t.Fatalf("the partition phase took %v: too close to LostMemberTTL (30s) to check the guarantee", d)
	}
	if err := c.lab.Heal(); err != nil {
		t.Fatal(err)
	}
	c.waitSettled(5)
	c.checkAll(sessions)

	// One-way cut: h3's packets no longer reach h0. Clients keep
	// incrementing through every node for a few seconds.
	if err := c.lab.Cut(3, 0); err != nil {
		t.Fatal(err)
	}
	t.Log("cut h3 -> h0")
	ok, failed := hammer(t, c, sessions, 6*time.Second)
	t.Logf("under the one-way cut: %d increments acknowledged, %d failed", ok, failed)
	if ok == 0 {
		t.Errorf("no increment succeeded under a one-way cut between two of five nodes")
	}
	if err := c.lab.Heal(); err != nil {
		t.Fatal(err)
	}
	c.waitSettled(5)
	c.checkAll(sessions)
}

// hammer increments random sessions through random live nodes from four
// clients for d, failing the test at a stale or lost count. It returns how
// many increments were acknowledged and how many failed.
func hammer(t *testing.T, c *labCluster, sessions []*labSession, d time.Duration) (ok, failed int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	locks := make([]sync.Mutex, len(sessions))
	end := time.Now().Add(d)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(end) {
				k := r.IntN(len(sessions))
				locks[k].Lock()
				i, _, done, up := c.pick(r.IntN)
				if !up {
					locks[k].Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_, err := c.incr(sessions[k], i)
				done()
				locks[k].Unlock()
				mu.Lock()
				if err == nil {
					ok++
				} else {
					failed++
					if errors.Is(err, errStale) {
						t.Error(err)
					} else if failed <= 5 {
						t.Logf("failed: %v", err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok, failed
}

// TestMultiHostPausedOwner: a session's owner is paused (SIGSTOP) for
// longer than its read lease and than failure detection; the others take
// over and the session is incremented meanwhile. After SIGCONT the woken
// owner must never answer with its stale count.
func TestMultiHostPausedOwner(t *testing.T) {
	c := newLabCluster(t, 3, false)
	s := &labSession{}
	if _, err := c.incr(s, 0); err != nil {
		t.Fatal(err)
	}
	owner := int(s.owner[1] - '0')
	others := []int{(owner + 1) % 3, (owner + 2) % 3}
	c.signal(owner, syscall.SIGSTOP)
	paused := time.Now()
	t.Logf("SIGSTOPped %s, the owner", c.name(owner))
	c.setUp(owner, false)
	for k := range 3 {
		if err := retryIncr(c, s, others[k%2], 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Pause at least 2x the read lease (1s) and past failure detection
	// (about 3s with default gossip timing).
	if d := 6*time.Second - time.Since(paused); d > 0 {
		time.Sleep(d)
	}
	if s.owner == c.name(owner) {
		t.Fatalf("after %v paused, %s still owns the session", time.Since(paused), s.owner)
	}
	c.signal(owner, syscall.SIGCONT)
	c.setUp(owner, true)
	t.Logf("SIGCONT %s after %v; session at %d", c.name(owner), time.Since(paused).Round(time.Millisecond), s.acked)
	// From the moment it wakes, the old owner answers the new count or an
	// error, never the old one.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	answered := 0
	for ctx.Err() == nil {
		if _, err := c.read(s, owner); err == nil {
			answered++
		} else if errors.Is(err, errStale) {
			t.Fatal(err)
		}
		if answered > 20 {
			break
		}
	}
	if answered == 0 {
		t.Errorf("the woken node answered no read within 8s")
	}
	if err := retryIncr(c, s, owner, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	c.waitSettled(3)
	c.checkAll([]*labSession{s})
}

// TestMultiHostRollingRestart: each host's node in turn is stopped with
// SIGTERM and started again under the same name and address while four
// clients increment 24 sessions through the nodes that are up (a draining
// load balancer). No request fails, no increment is lost, with each locking
// mode that locks (see rollingRestart).
func TestMultiHostRollingRestart(t *testing.T) {
	for _, mode := range []string{"auto", "exclusive"} {
		t.Run("locking="+mode, func(t *testing.T) {
			rollingRestart(t, newLabCluster(t, 3, false, "-locking", mode))
		})
	}
}

// TestMultiHostJoinByName: every node is given the same seed, one DNS name
// that resolves to the addresses of all three hosts (as a Kubernetes
// headless Service's name does), the first node included: it finds only
// itself and starts the cluster, the others join it through the name.
// Then a node restarted with the same seed rejoins, and a session served
// through every node keeps its count.
func TestMultiHostJoinByName(t *testing.T) {
	const seed = "sessring.lab.test"
	c := newCluster(t, 3, nil)
	c.lab = requireLab(t, 3)
	if err := c.lab.SetName(seed, 0, 1, 2); err != nil {
		t.Fatal(err)
	}
	c.seeds = []string{fmt.Sprintf("%s:%d", seed, labGossipPort)}
	c.boot(3) // waits until every node sees three members
	s := &labSession{}
	for i := range 3 {
		if _, err := c.incr(s, i); err != nil {
			t.Fatal(err)
		}
	}
	c.term(1)
	c.start(1, c.seeds)
	c.waitSettled(3)
	for i := range 3 {
		if _, err := c.incr(s, i); err != nil {
			t.Fatal(err)
		}
	}
	c.checkAll([]*labSession{s})
	if s.acked != 6 {
		t.Errorf("count %d after 6 increments", s.acked)
	}
}

// TestMultiHostRollingRestartNewAddress is the rolling restart as
// Kubernetes performs it: every node is given one seed name that resolves
// to every host (a headless Service), and each node, after SIGTERM, starts
// again under the same name in a spare host, at a new address (a pod's IP
// changes when it is recreated). No request fails, no increment is lost.
func TestMultiHostRollingRestartNewAddress(t *testing.T) {
	const seed = "sessring.lab.test"
	for _, mode := range []string{"auto", "exclusive"} {
		t.Run("locking="+mode, func(t *testing.T) {
			c := newCluster(t, 3, []string{"-locking", mode})
			c.lab = requireLab(t, 4) // one spare host
			if err := c.lab.SetName(seed, 0, 1, 2, 3); err != nil {
				t.Fatal(err)
			}
			c.seeds, c.moves = []string{fmt.Sprintf("%s:%d", seed, labGossipPort)}, true
			c.boot(3)
			rollingRestart(t, c)
		})
	}
}
