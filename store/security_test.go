package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/wire"
)

func keyedCluster(t *testing.T, size int) *testCluster {
	return newTestClusterWithKey(t, size, bytes.Repeat([]byte{7}, 32))
}

func newTestClusterWithKey(t *testing.T, size int, key []byte) *testCluster {
	t.Helper()
	c := newTestCluster(t, 0)
	c.key = key
	for range size {
		c.add()
	}
	c.waitConverged()
	return c
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
			cfg := c.config("intruder-"+tc.name[:2], "127.0.0.99", c.seeds(""))
			cfg.SecretKey = tc.key
			cfg.JoinTimeout = 500 * time.Millisecond
			n, err := Open(cfg)
			if err == nil {
				n.halt()
				t.Fatalf("Open with %s joined a keyed cluster", tc.name)
			}
			for _, m := range c.live() {
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
	target := c.live()[0]
	if err := target.Commit("secret", []byte("data"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	addr := target.ln.Addr().String()
	host := c.net.Host("127.0.0.98")
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
			var enc wire.Encoder
			header{"intruder", 0}.encode(&enc)
			enc.String("secret")
			enc.Bool(true)
			before := target.stats.requests.Load()
			_, err = client.Call(context.Background(), addr, mRead, enc.B)
			if err == nil {
				t.Fatal("read without the cluster key succeeded")
			}
			if !errors.Is(err, rpc.ErrUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("refused with %v", err)
			}
			if after := target.stats.requests.Load(); after != before {
				t.Errorf("handler ran %d times for an unauthenticated peer", after-before)
			}
		})
	}
}
