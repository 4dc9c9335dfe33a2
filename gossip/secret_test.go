package gossip_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 16)
)

func keyed(t *testing.T, key []byte, name string, seeds ...string) gossip.Config {
	cfg := fastConfig(t, name, seeds...)
	cfg.SecretKey = key
	cfg.JoinTimeout = 300 * time.Millisecond
	return cfg
}

func TestSecretKeyKeepsOutsidersOut(t *testing.T) {
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, keyed(t, key1, "a"))
	b := c.mustStart("127.0.0.12", 0, keyed(t, key1, "b", seedAddr))
	waitMembers(t, 3*time.Second, "a,b", a, b)

	tests := []struct {
		name string
		key  []byte
	}{
		{"wrong key", key2},
		{"no key", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := []string{"127.0.0.21", "127.0.0.22"}[i]
			if _, err := c.start(ip, 0, keyed(t, tt.key, "x", seedAddr)); !errors.Is(err, gossip.ErrJoin) {
				t.Fatalf("New(%s) joining a keyed cluster error = %v, want ErrJoin", tt.name, err)
			}
			// Running side by side, neither side can pull the other in.
			x := c.mustStart(ip, 0, keyed(t, tt.key, "x"))
			if _, err := x.Join([]string{seedAddr}); !errors.Is(err, gossip.ErrJoin) {
				t.Errorf("outsider Join(keyed seed) error = %v, want ErrJoin", err)
			}
			if _, err := a.Join([]string{x.Self().Addr}); !errors.Is(err, gossip.ErrJoin) {
				t.Errorf("keyed Join(outsider) error = %v, want ErrJoin", err)
			}
			holds(t, 300*time.Millisecond, "keyed cluster without x", func() bool {
				return names(a.Members()) == "a,b" && names(b.Members()) == "a,b" && names(x.Members()) == "x"
			})
		})
	}
}

func TestKeyedNodeCannotJoinUnkeyedCluster(t *testing.T) {
	c := newCluster(t)
	u := c.mustStart("127.0.0.11", 7946, keyed(t, nil, "u"))
	if _, err := c.start("127.0.0.12", 0, keyed(t, key1, "k", seedAddr)); !errors.Is(err, gossip.ErrJoin) {
		t.Fatalf("New(keyed) joining an unkeyed cluster error = %v, want ErrJoin", err)
	}
	holds(t, 200*time.Millisecond, "unkeyed cluster alone", func() bool { return names(u.Members()) == "u" })
}
