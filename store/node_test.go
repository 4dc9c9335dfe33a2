package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store/internal/clock"
)

func TestCommitFindDeleteAnyNode(t *testing.T) {
	c := newTestCluster(t, 3)
	nodes := c.Nodes()
	for i, n := range nodes {
		tok := fmt.Sprintf("tok-%d", i)
		if err := n.Commit(tok, []byte("v"+tok), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit via %s = %v", n.Name(), err)
		}
		for _, m := range nodes {
			got, ok, err := m.Find(tok)
			if err != nil || !ok || string(got) != "v"+tok {
				t.Errorf("Find(%s) via %s = %q, %v, %v; want %q", tok, m.Name(), got, ok, err, "v"+tok)
			}
		}
		if err := nodes[(i+1)%3].Delete(tok); err != nil {
			t.Fatalf("Delete = %v", err)
		}
		if got, ok, err := n.Find(tok); ok || err != nil {
			t.Errorf("Find after Delete = %q, %v, %v; want missing", got, ok, err)
		}
	}
	if err := nodes[0].Delete("never-existed"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if got, ok, err := nodes[0].Find("never-existed"); got != nil || ok || err != nil {
		t.Errorf("Find(missing) = %q, %v, %v; want nil, false, nil", got, ok, err)
	}
}

func TestOwnerAndReplicaBothHold(t *testing.T) {
	c := newTestCluster(t, 3)
	n := c.Nodes()[0]
	tok := "held-twice"
	if err := n.Commit(tok, []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	owner, replica := n.Locate(tok)
	for _, name := range []string{owner, replica} {
		m := c.Node(name)
		p := m.partitionOf(tok)
		if e := m.parts[p].get(tok); e == nil || string(e.value) != "x" {
			t.Errorf("%s (owner %s, replica %s) holds %v, want the committed value", name, owner, replica, e)
		}
	}
	for _, m := range c.Nodes() {
		if m.Name() != owner && m.Name() != replica && m.parts[m.partitionOf(tok)].get(tok) != nil {
			t.Errorf("%s holds a copy but is neither owner nor replica", m.Name())
		}
	}
}

func TestExpiry(t *testing.T) {
	c := newTestCluster(t, 3)
	n := c.Nodes()[0]
	if err := n.Commit("short", []byte("x"), time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	expired := make(chan string, 4)
	for _, m := range c.Nodes() {
		m.OnExpire(func(tok string, r Record) { expired <- tok })
	}
	if _, ok, _ := n.Find("short"); !ok {
		t.Fatal("session missing before its expiry")
	}
	testkit.Eventually(t, 5*time.Second, "session expired", func() bool {
		_, ok, err := n.Find("short")
		return !ok && err == nil
	})
	select {
	case tok := <-expired:
		if tok != "short" {
			t.Errorf("OnExpire(%q), want %q", tok, "short")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnExpire not called")
	}
	// Idle expiry through Apply, kept alive by touches.
	ctx := context.Background()
	if _, err := n.Apply(ctx, "idle", Mutation{Set: map[string][]byte{"a": []byte("1")}, Idle: 400 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		time.Sleep(150 * time.Millisecond) // the clock must move for idle expiry to be tested
		if _, err := n.Apply(ctx, "idle", Mutation{Touch: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := n.Load(ctx, "idle"); !ok {
		t.Fatal("touched session expired")
	}
	testkit.Eventually(t, 5*time.Second, "idle session expired", func() bool {
		_, ok, _ := n.Load(ctx, "idle")
		return !ok
	})
	select {
	case tok := <-expired:
		if tok != "idle" {
			t.Errorf("OnExpire(%q), want idle", tok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnExpire not called for idle session")
	}
	select {
	case tok := <-expired:
		t.Errorf("OnExpire(%q) fired twice", tok)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestApplyMergesFieldsFromConcurrentNodes(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := context.Background()
	nodes := c.Nodes()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[i%len(nodes)]
			key := fmt.Sprintf("f%02d", i)
			if _, err := n.Apply(ctx, "cart", Mutation{Set: map[string][]byte{key: []byte(key)}}); err != nil {
				t.Errorf("Apply(%s) via %s = %v", key, n.Name(), err)
			}
		}()
	}
	wg.Wait()
	r, ok, err := nodes[1].Load(ctx, "cart")
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	if len(r.Fields) != 30 {
		t.Errorf("Load has %d fields, want 30 (a concurrent update was lost)", len(r.Fields))
	}
	if r.Version < 30 {
		t.Errorf("Version = %d, want >= 30", r.Version)
	}
}

func TestApplyConditions(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := context.Background()
	n := c.Nodes()[0]
	r, err := n.Apply(ctx, "s", Mutation{Create: true, Set: map[string][]byte{"a": []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "s", Mutation{Create: true}); !errors.Is(err, ErrConflict) {
		t.Errorf("second Create = %v, want ErrConflict", err)
	}
	if _, err := n.Apply(ctx, "s", Mutation{IfVersion: r.Version + 7, Set: map[string][]byte{"a": []byte("2")}}); !errors.Is(err, ErrConflict) {
		t.Errorf("IfVersion mismatch = %v, want ErrConflict", err)
	}
	r2, err := n.Apply(ctx, "s", Mutation{IfVersion: r.Version, Set: map[string][]byte{"a": []byte("2")}})
	if err != nil || string(r2.Fields["a"]) != "2" {
		t.Errorf("IfVersion match = %v, %q", err, r2.Fields["a"])
	}
	r3, err := n.Apply(ctx, "s", Mutation{Set: map[string][]byte{"a": []byte("2")}})
	if err != nil || r3.Version != r2.Version {
		t.Errorf("unchanged Apply: version %d -> %d, err %v; want no new version", r2.Version, r3.Version, err)
	}
	if _, err := c.Nodes()[1].Apply(ctx, "gone", Mutation{IfExists: true, Set: map[string][]byte{"a": nil}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("IfExists on a missing session = %v, want ErrNotFound", err)
	}
	if err := n.Commit("bytes", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "bytes", Mutation{Set: map[string][]byte{"a": nil}}); !errors.Is(err, ErrKindMismatch) {
		t.Errorf("Apply on Commit session = %v, want ErrKindMismatch", err)
	}
}

func TestLocks(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := context.Background()
	a, b := c.Nodes()[0], c.Nodes()[1]
	lease, err := a.Lock(ctx, "locked", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = b.Lock(short, "locked", time.Second)
	cancel()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while held = %v, want ErrLocked", err)
	}
	got := make(chan uint64, 1)
	go func() {
		l, err := b.Lock(ctx, "locked", time.Second)
		if err != nil {
			t.Errorf("waiting Lock = %v", err)
		}
		got <- l
	}()
	if _, err := a.Apply(ctx, "locked", Mutation{Lease: lease, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Errorf("Apply with held lease = %v", err)
	}
	if err := a.Unlock(ctx, "locked", lease); err != nil {
		t.Fatal(err)
	}
	l2 := <-got
	if _, err := a.Apply(ctx, "locked", Mutation{Lease: lease, Set: map[string][]byte{"k": []byte("w")}}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Apply with released lease = %v, want ErrLeaseLost", err)
	}
	// A holder that never unlocks (crashed) loses the lease after its ttl.
	start := time.Now()
	if _, err := a.Lock(ctx, "locked", time.Second); err != nil {
		t.Fatalf("Lock after ttl = %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("Lock waited %v for a 1s lease", time.Since(start))
	}
	_ = l2
}

func TestLimits(t *testing.T) {
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) { cfg.MaxBytes = 64 << 10; cfg.MaxValueBytes = 16 << 10 }
	c.Add()
	c.Add()
	c.WaitConverged()
	n := c.Nodes()[0]
	if err := n.Commit("big", make([]byte, 17<<10), time.Time{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Commit over MaxValueBytes = %v, want ErrTooLarge", err)
	}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = n.Commit(fmt.Sprintf("fill-%d", i), make([]byte, 8<<10), time.Time{})
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("filling past MaxBytes = %v, want ErrFull", err)
	}
	for _, m := range c.Nodes() {
		if s := m.Stats(); s.BytesHeld > 64<<10 {
			t.Errorf("%s holds %d bytes, limit %d", m.Name(), s.BytesHeld, 64<<10)
		}
	}
	if err := n.Commit("", []byte("x"), time.Time{}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("empty token = %v, want ErrInvalidToken", err)
	}
}

func TestMemoryIsTwoOverN(t *testing.T) {
	c := newTestCluster(t, 5)
	acked := writeMany(t, c, "mem", 5000)
	// Copies left on former holders (orphans, if placement moved while the
	// sessions were written) are dropped after OrphanGrace: poll for that.
	total := 0
	testkit.Eventually(t, 10*time.Second, "exactly two copies of every session", func() bool {
		total = 0
		for _, n := range c.Nodes() {
			s := n.Stats()
			total += s.OwnedSessions + s.ReplicaSessions + s.OrphanSessions
		}
		return total == 2*len(acked)
	})
	for _, n := range c.Nodes() {
		s := n.Stats()
		held := s.OwnedSessions + s.ReplicaSessions + s.OrphanSessions
		if want := 2 * len(acked) / 5; float64(held) > 1.25*float64(want) {
			t.Errorf("%s holds %d sessions, want about %d (2/N)", n.Name(), held, want)
		}
	}
}

func TestNewTokenLocal(t *testing.T) {
	c := newTestCluster(t, 3)
	for _, n := range c.Nodes() {
		for range 20 {
			tok, err := n.NewToken(true)
			if err != nil {
				t.Fatal(err)
			}
			if owner, _ := n.Locate(tok); owner != n.Name() || len(tok) != 43 {
				t.Fatalf("NewToken(true) on %s = %q owned by %s", n.Name(), tok, owner)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	derived, err := peerTLSFor(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults need a key", DefaultConfig(), false},
		{"loopback without key", Config{BindAddr: "127.0.0.1:0"}, false},
		{"loopback insecure", Config{BindAddr: "127.0.0.1:0", Insecure: true}, true},
		{"loopback with key", Config{BindAddr: "127.0.0.1:0", SecretKey: key}, true},
		{"loopback with TLS", Config{BindAddr: "127.0.0.1:0", TLS: derived}, true},
		{"public bind with TLS only", Config{BindAddr: "0.0.0.0:7946", TLS: derived}, false},
		{"bad key", Config{SecretKey: []byte("short")}, false},
		{"all-zero key", Config{SecretKey: make([]byte, 32)}, false},
		{"all-zero old key", Config{SecretKey: key, OldSecretKeys: [][]byte{make([]byte, 16)}}, false},
		{"old keys", Config{SecretKey: key, OldSecretKeys: [][]byte{bytes.Repeat([]byte{2}, 16)}}, true},
		{"old keys without key", Config{Insecure: true, OldSecretKeys: [][]byte{key}}, false},
		{"cluster name", Config{SecretKey: key, ClusterName: "prod-eu"}, true},
		{"manual clock", Config{SecretKey: key, Clock: clock.NewManual(time.Unix(1, 0))}, true},
		{"clock at the zero time", Config{SecretKey: key, Clock: zeroClock{}}, false},
		{"evict without a protected field", Config{SecretKey: key, Pressure: EvictUnprotected}, false},
		{"evict unprotected", Config{SecretKey: key, Pressure: EvictUnprotected, ProtectField: "user"}, true},
		{"cluster name with space", Config{SecretKey: key, ClusterName: "prod eu"}, false},
		{"public bind without key", Config{BindAddr: "0.0.0.0:7946"}, false},
		{"public bind with key", Config{BindAddr: "0.0.0.0:7946", SecretKey: key}, true},
		{"public bind insecure", Config{BindAddr: "10.1.2.3:7946", Insecure: true}, true},
		{"bad addr", Config{BindAddr: "nope", SecretKey: key}, false},
		{"write-through without backup", Config{BackupMode: WriteThrough, SecretKey: key}, false},
		{"TLS without client auth", Config{SecretKey: key, TLS: &tls.Config{Certificates: derived.Certificates}}, false},
		{"TLS verifying client certs only if given", Config{SecretKey: key, TLS: &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: x509.NewCertPool()}}, false},
		{"TLS requiring any client cert unchecked", Config{SecretKey: key, TLS: &tls.Config{ClientAuth: tls.RequireAnyClientCert}}, false},
		{"TLS verifying against system roots", Config{SecretKey: key, TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}}, false},
		{"TLS with own CA", Config{SecretKey: key, TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool(), RootCAs: x509.NewCertPool()}}, true},
		{"TLS skipping server verification", Config{SecretKey: key, TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool(), InsecureSkipVerify: true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadConfig) {
				t.Errorf("Validate() = %v, want it to wrap ErrBadConfig", err)
			}
		})
	}
}

// TestRemoteRecordSlicesAreCapped: a Record read from a remote owner points
// into the reply frame; an append to one of its slices must not run over the
// bytes of the next field.
func TestRemoteRecordSlicesAreCapped(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := context.Background()
	nodes := c.Nodes()
	caller := nodes[0]
	tok := tokenOwnedBy(t, caller, nodes[1].Name())
	set := map[string][]byte{"a": []byte("first"), "b": []byte("second"), "c": []byte("third")}
	if _, err := caller.Apply(ctx, tok, Mutation{Set: set}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := caller.Load(ctx, tok)
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	for k := range r.Fields {
		// Short enough to fit in what follows the field in the frame.
		_ = append(r.Fields[k], "xxxxxxxx"...)
	}
	for k, want := range set {
		if got := r.Fields[k]; !bytes.Equal(got, want) {
			t.Errorf("field %s = %q after appending to the fields, want %q", k, got, want)
		}
	}
}

// TestPortZeroAddresses: a node bound to port 0 on real TCP reports the
// ports it got, and another node joins through its GossipAddr.
func TestPortZeroAddresses(t *testing.T) {
	open := func(name string, join []string) *Node {
		cfg := DefaultConfig()
		cfg.Name, cfg.BindAddr, cfg.Join = name, "127.0.0.1:0", join
		cfg.SecretKey = processKey
		cfg.Logger = testkit.QuietLogger()
		n, err := Open(cfg)
		if err != nil {
			t.Fatalf("Open(%s) = %v", name, err)
		}
		t.Cleanup(n.halt)
		return n
	}
	a := open("port0-a", nil)
	for what, addr := range map[string]string{"GossipAddr": a.GossipAddr(), "PeerAddr": a.PeerAddr()} {
		if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
			t.Errorf("%s() = %q, want 127.0.0.1 and the port picked", what, addr)
		}
	}
	if a.GossipAddr() == a.PeerAddr() {
		t.Errorf("GossipAddr and PeerAddr are both %s, want two listeners", a.GossipAddr())
	}
	b := open("port0-b", []string{a.GossipAddr()})
	testkit.Eventually(t, 10*time.Second, "both nodes see each other", func() bool {
		return len(a.Members()) == 2 && len(b.Members()) == 2
	})
}

// zeroClock is a broken Config.Clock: every deadline would read as passed
// or as never reached.
type zeroClock struct{}

func (zeroClock) Now() time.Time { return time.Time{} }
