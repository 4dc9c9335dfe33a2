package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/peertls"
	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/wire"
)

func keyedCluster(t *testing.T, size int) *testCluster {
	return newTestClusterWithKey(t, size, bytes.Repeat([]byte{7}, 32))
}

func TestWrongKeyCannotJoin(t *testing.T) {
	c := keyedCluster(t, 2)
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"wrong key", bytes.Repeat([]byte{9}, 32)},
		{"no key", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := c.config("intruder-"+tc.name[:2], "127.0.0.99", c.Seeds(""))
			cfg.SecretKey = tc.key
			cfg.Insecure = tc.key == nil
			cfg.JoinTimeout = 500 * time.Millisecond
			n, err := Open(cfg)
			if err == nil {
				n.halt()
				t.Fatalf("Open with %s joined a keyed cluster", tc.name)
			}
			for _, m := range c.Nodes() {
				if len(m.Members()) != 2 {
					t.Errorf("%s sees members %v after a rejected join", m.Name(), m.Members())
				}
			}
		})
	}
}

// TestPeerTrafficNeedsKey sends peer requests to a keyed node with no TLS
// and with TLS from another key: both are refused before any handler runs,
// so nothing can be read or written.
func TestPeerTrafficNeedsKey(t *testing.T) {
	c := keyedCluster(t, 2)
	target := c.Nodes()[0]
	if err := target.Commit("secret", []byte("data"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	addr := target.ln.Addr().String()
	host := c.Net.Host("127.0.0.98")
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plaintext", nil}, {"wrong key", bytes.Repeat([]byte{1}, 16)}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rpc.DefaultConfig()
			cfg.Dial = host.Dial
			cfg.CallTimeout = 500 * time.Millisecond
			if tc.key != nil {
				tlsCfg, err := peerTLSFor(tc.key)
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLS = tlsCfg
			}
			client, err := rpc.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			readRefused(t, client, target, addr, "intruder", "without the cluster key")
		})
	}
}

// TestClusterNameSeparates: a node of another cluster that has the same key
// can neither join nor send peer requests once the clusters are named.
func TestClusterNameSeparates(t *testing.T) {
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) { cfg.ClusterName = "blue" }
	c.Add()
	c.Add()
	c.WaitConverged()
	target := c.Nodes()[0]
	if err := target.Commit("secret", []byte("data"), time.Time{}); err != nil {
		t.Fatal(err)
	}

	cfg := c.config("green-1", "127.0.0.97", c.Seeds(""))
	cfg.ClusterName = "green"
	cfg.JoinTimeout = 500 * time.Millisecond
	n, err := Open(cfg)
	if err == nil {
		n.halt()
		t.Fatal("Open of a node named for another cluster joined with the same key")
	}

	rcfg := rpc.DefaultConfig()
	rcfg.Dial = c.Net.Host("127.0.0.96").Dial
	rcfg.CallTimeout = 500 * time.Millisecond
	base, err := peerTLSFor(c.key)
	if err != nil {
		t.Fatal(err)
	}
	rcfg.TLS = peertls.WithClusterName(base, "green")
	client, err := rpc.NewClient(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	readRefused(t, client, target, target.ln.Addr().String(), "green-1", "from a node of another cluster with the same key")
}

// readRefused sends target at addr a read of session "secret" from a peer
// named from through client, which must fail before target's handler runs.
func readRefused(t *testing.T, client *rpc.Client, target *Node, addr, from, who string) {
	t.Helper()
	var enc wire.Encoder
	header{from, 0}.encode(&enc)
	enc.String("secret")
	enc.Bool(true)
	before := target.stats.requests.Load()
	_, err := client.Call(context.Background(), addr, mRead, enc.B)
	if err == nil {
		t.Fatalf("read %s succeeded", who)
	}
	if !errors.Is(err, rpc.ErrUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("refused with %v", err)
	}
	if after := target.stats.requests.Load(); after != before {
		t.Errorf("handler ran %d times for a read %s", after-before, who)
	}
}

// TestKeyRotationKeepsServing: nodes at consecutive steps of a key rotation
// form one cluster and serve each other's sessions.
func TestKeyRotationKeepsServing(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{5}, 32), bytes.Repeat([]byte{6}, 32)
	c := newTestCluster(t, 0)
	c.key = oldKey
	c.tweak = func(cfg *Config) { cfg.OldSecretKeys = [][]byte{newKey} } // step 1
	a := c.Add()
	c.Add()
	c.key = newKey
	c.tweak = func(cfg *Config) { cfg.OldSecretKeys = [][]byte{oldKey} } // step 2
	b := c.Add()
	c.WaitConverged()
	for i := range 20 {
		tok := fmt.Sprintf("rot-%d", i)
		if err := a.Commit(tok, []byte(tok), time.Time{}); err != nil {
			t.Fatalf("Commit(%s) via %s = %v", tok, a.Name(), err)
		}
		if got, ok, err := b.Find(tok); err != nil || !ok || string(got) != tok {
			t.Fatalf("Find(%s) via %s = %q, %v, %v; want %q", tok, b.Name(), got, ok, err, tok)
		}
	}
}

// TestHandoverChecksHolderAndMemory: a handover, even from a peer with the
// cluster key, is merged only from a member, only for sessions the
// receiver holds once that member is gone, and only within MaxBytes.
func TestHandoverChecksHolderAndMemory(t *testing.T) {
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) { cfg.MaxBytes = 256 << 10 }
	for range 4 { // without the leaver, three: not every node holds every session
		c.Add()
	}
	c.WaitConverged()
	target, leaver := c.Node("node-02"), c.Node("node-01")
	after := target.view.Load().table.Without(leaver.Name())
	tokenWhere := func(held bool) string {
		for i := range 10000 {
			tok := fmt.Sprintf("handover-%d", i)
			o, r := after.Holders(after.Partition(tok))
			if (o == target.Name() || r == target.Name()) == held {
				return tok
			}
		}
		t.Fatalf("no token with held=%v", held)
		return ""
	}
	rcfg := rpc.DefaultConfig()
	rcfg.Dial = c.Net.Host("127.0.0.95").Dial
	rcfg.CallTimeout = time.Second
	rcfg.MaxFrame = 4 << 20
	var err error
	if rcfg.TLS, err = peerTLSFor(c.key); err != nil {
		t.Fatal(err)
	}
	client, err := rpc.NewClient(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	handover := func(from, tok string, size int) error {
		now := time.Now().UnixNano()
		e := &entry{kind: KindBytes, version: 1, value: bytes.Repeat([]byte{'x'}, size), access: now}
		e.computeSize(tok)
		var enc wire.Encoder
		header{from, 0}.encode(&enc)
		encodeEntries(&enc, []tokenEntry{{tok, e}})
		_, err := client.Call(context.Background(), target.ln.Addr().String(), mHandover, enc.B)
		return err
	}
	held := func(tok string) bool {
		return target.parts[target.view.Load().table.Partition(tok)].get(tok) != nil
	}
	for _, tc := range []struct {
		name, from, tok string
		size            int
		wantErr, stored bool
	}{
		{"from a non-member", "intruder", tokenWhere(true), 10, true, false},
		{"a session the receiver would not hold", leaver.Name(), tokenWhere(false), 10, false, false},
		{"beyond MaxBytes", leaver.Name(), tokenWhere(true), 512 << 10, true, false},
		{"a session the receiver holds", leaver.Name(), tokenWhere(true), 10, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			err := handover(tc.from, tok, tc.size)
			if (err != nil) != tc.wantErr {
				t.Errorf("handover error = %v, want error=%v", err, tc.wantErr)
			}
			if got := held(tok); got != tc.stored {
				t.Errorf("session %s stored = %v after the handover, want %v", tok, got, tc.stored)
			}
		})
	}
}
