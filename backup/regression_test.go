package backup_test

// Regression tests for store bugs found while testing the cold tier (both
// fixed in store: adopted versions are queued for the backup, and writes
// that depend on a cold copy fail when the backup cannot be reached).

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/placement"
	"github.com/e5b1d45c/sessring/store"
)

// TestAdoptedVersionsAreBackedUp: while an owner replicates a
// new version, anti-entropy may compare digests, find the version on the
// replica only, and merge it into the owner (store/antientropy.go
// repairPartition, without the partition's write lock). The owner's install
// then fails its compare-and-swap, ownerWrite rebuilds on the adopted copy,
// finds nothing to change and acknowledges the write without afterWrite:
// the version is never queued for the backup. Pending drains to zero, and
// a full restart loses acknowledged writes.
func TestAdoptedVersionsAreBackedUp(t *testing.T) {
	srv := memcachedtest.Start(t)
	c := newCluster(t, []string{srv.Addr}, backup.Config{SecretKey: clusterKey}, func(cfg *store.Config) {
		cfg.AntiEntropyInterval = 20 * time.Millisecond
		cfg.BackupDelay = 50 * time.Millisecond
	})
	c.start(names("a", 2)...)
	want := sessionValues("ae", 3000, "v1")
	commitAll(t, c, want, time.Now().Add(time.Hour))
	c.waitDrained(30 * time.Second)
	var writes uint64
	for _, n := range c.nodes() {
		writes += n.Stats().Writes
	}
	t.Logf("the nodes counted %d writes for %d acknowledged commits", writes, len(want))
	if missing := missingInMemcached(t, c, want); missing > 0 {
		t.Fatalf("%d of %d acknowledged sessions are not in memcached with Pending 0", missing, len(want))
	}
}

// missingInMemcached counts the tokens memcached has no value for.
func missingInMemcached(t *testing.T, c *cluster, want map[string]string) int {
	t.Helper()
	mc, err := backup.New(c.backupCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	missing := 0
	for tok := range want {
		_, ok, err := mc.Get(context.Background(), tok)
		if err != nil {
			t.Fatalf("Get(%s) = %v", tok, err)
		}
		if !ok {
			missing++
		}
	}
	return missing
}

// proxy forwards TCP connections to memcached and can cut them, like a
// network failure between the app servers and memcached that leaves
// memcached's data in place (Server.Stop would empty it).
type proxy struct {
	addr   string
	target string
	ln     net.Listener
	cut    atomic.Bool
	hold   atomic.Bool  // accept, but forward nothing: a memcached that hangs
	held   atomic.Int32 // connections accepted while holding
	wg     sync.WaitGroup

	// mu guards conns.
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cut.Load() {
			c.Close()
			continue
		}
		if p.hold.Load() {
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			p.held.Add(1)
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, c); up.Close() })
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

// setCut breaks every connection and refuses new ones (true), or lets
// them through again (false).
func (p *proxy) setCut(cut bool) {
	p.cut.Store(cut)
	if cut {
		p.closeAll()
	}
}

// setHold makes the proxy accept connections and forward nothing (true),
// closing the connections it has so clients reconnect into the hold; false
// forwards new connections again and closes the held ones.
func (p *proxy) setHold(hold bool) {
	p.hold.Store(hold)
	p.closeAll()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// TestColdWriteWhileMemcachedUnreachable: after a full restart a
// session lives only in memcached. A write to it while memcached cannot be
// reached goes ahead as if the session did not exist
// (store/owner.go ownerWrite ignores a failed restoreLocked):
//   - Delete returns nil but deletes nothing, and the logged-out session
//     is back as soon as memcached is reachable again;
//   - Apply creates a new session holding only the fields it sets, and the
//     write-behind backup then overwrites the full session in memcached.
func TestColdWriteWhileMemcachedUnreachable(t *testing.T) {
	srv := memcachedtest.Start(t)
	px := startProxy(t, srv.Addr)
	c := newCluster(t, []string{px.addr}, backup.Config{SecretKey: clusterKey, Timeout: 200 * time.Millisecond, DownFor: 50 * time.Millisecond}, nil)
	c.start(names("a", 2)...)
	n := c.nodes()[0]
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if err := n.Commit("logged-out", []byte("user=alice"), exp); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "fields", store.Mutation{Set: map[string][]byte{"a": []byte("1")}, Expiry: exp}); err != nil {
		t.Fatal(err)
	}
	c.restart(2, "b")
	n = c.nodes()[0]

	px.setCut(true)
	delErr := n.Delete("logged-out")
	_, applyErr := n.Apply(ctx, "fields", store.Mutation{Set: map[string][]byte{"b": []byte("2")}})
	px.setCut(false)
	c.waitDrained(30 * time.Second)

	var problems []string
	if v, ok, err := n.Find("logged-out"); delErr == nil && (ok || err != nil) {
		problems = append(problems, fmt.Sprintf("Delete returned nil while memcached was unreachable, then Find = (%q, %v, %v): the session is back", v, ok, err))
	}
	r, ok, err := n.Load(ctx, "fields")
	want := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	if applyErr == nil && (err != nil || !ok || !maps.EqualFunc(r.Fields, want, func(x, y []byte) bool { return string(x) == string(y) })) {
		problems = append(problems, fmt.Sprintf("Apply(Set b) returned nil while memcached was unreachable, then Load = (%q, %v, %v), want fields a and b", r.Fields, ok, err))
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestHangingBackupBlocksOnlyItsToken: while memcached hangs (a real one
// behind a proxy that stops forwarding), the lookup of an unknown token
// waits for it, but writes to other sessions of the same partition go
// ahead: the restore fetch runs outside the partition's write lock.
func TestHangingBackupBlocksOnlyItsToken(t *testing.T) {
	srv := memcachedtest.Start(t)
	px := startProxy(t, srv.Addr)
	c := newCluster(t, []string{px.addr}, backup.Config{SecretKey: clusterKey, Timeout: 5 * time.Second}, nil)
	c.start("a")
	n := c.nodes()[0]
	const known = "known-session"
	if err := n.Commit(known, []byte("v1"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.waitDrained(10 * time.Second)
	unknown := ""
	for i := 0; unknown == ""; i++ {
		if tok := fmt.Sprintf("unknown-%d", i); placement.PartitionOf(tok, 2048) == placement.PartitionOf(known, 2048) {
			unknown = tok
		}
	}

	px.setHold(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Find(unknown)
	}()
	testkit.Eventually(t, 5*time.Second, "the lookup reached memcached", func() bool { return px.held.Load() > 0 })
	if err := n.Commit(known, []byte("v2"), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Commit(%s) while memcached hangs = %v", known, err)
	}
	select {
	case <-done:
		t.Fatal("the write to another session of the partition waited for the hanging lookup")
	default:
	}
	px.setHold(false)
	<-done
}
