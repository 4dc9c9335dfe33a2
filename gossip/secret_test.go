package gossip_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
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

// lines is a slog.Handler counting the records at Warn and above by
// message.
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.got = append(l.got, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func (l *lines) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// TestWrongKeyLoggedOnce: a node with another key knocking again and again
// costs its victim one line, in words that point at the cause.
func TestWrongKeyLoggedOnce(t *testing.T) {
	c := newCluster(t)
	victim := &lines{}
	cfg := keyed(t, key1, "a")
	cfg.Logger = slog.New(victim)
	c.mustStart("127.0.0.11", 7946, cfg)
	x := c.mustStart("127.0.0.21", 0, keyed(t, key2, "x"))
	for range 20 {
		if _, err := x.Join([]string{seedAddr}); !errors.Is(err, gossip.ErrJoin) {
			t.Fatalf("Join with the wrong key = %v, want ErrJoin", err)
		}
	}
	want := "gossip from 127.0.0.21"
	got := victim.list()
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.HasSuffix(got[0], "could not be decrypted: does its SecretKey differ?") {
		t.Errorf("20 joins with the wrong key logged %q on the victim, want one line starting %q", got, want)
	}
}

// TestKeyRotation runs nodes at the successive steps of a key rotation
// (memberlist's keyring) side by side: a node that accepts the new key
// takes in both a node still on the old key alone and one that already
// sends with the new key, while the old key alone still refuses the new.
func TestKeyRotation(t *testing.T) {
	c := newCluster(t)
	oldKey, newKey := key1, bytes.Repeat([]byte{3}, 32)
	rotating := func(name string, key []byte, accepted [][]byte, seeds ...string) gossip.Config {
		cfg := keyed(t, key, name, seeds...)
		cfg.OldSecretKeys = accepted
		return cfg
	}
	a := c.mustStart("127.0.0.11", 7946, rotating("a", oldKey, [][]byte{newKey}))
	before := c.mustStart("127.0.0.12", 0, keyed(t, oldKey, "before", seedAddr))
	after := c.mustStart("127.0.0.13", 0, rotating("after", newKey, [][]byte{oldKey}, seedAddr))
	waitMembers(t, 3*time.Second, "a,after,before", a, before, after)
	// A node with only the new key, joining through the node with only
	// the old one, is refused.
	if _, err := c.start("127.0.0.29", 0, keyed(t, newKey, "late", before.Self().Addr)); !errors.Is(err, gossip.ErrJoin) {
		t.Fatalf("New with only the new key joining through a node with only the old key: error = %v, want ErrJoin", err)
	}
}

// TestLabelSeparatesClusters: two clusters with the same key but different
// labels do not merge, and a node with the right label joins.
func TestLabelSeparatesClusters(t *testing.T) {
	c := newCluster(t)
	labelled := func(label, name string, seeds ...string) gossip.Config {
		cfg := keyed(t, key1, name, seeds...)
		cfg.Label = label
		return cfg
	}
	a := c.mustStart("127.0.0.11", 7946, labelled("blue", "a"))
	for _, tc := range []struct{ name, label string }{{"other label", "green"}, {"no label", ""}} {
		if _, err := c.start("127.0.0.21", 0, labelled(tc.label, "x", seedAddr)); !errors.Is(err, gossip.ErrJoin) {
			t.Errorf("New with %s joining a labelled cluster: error = %v, want ErrJoin", tc.name, err)
		}
	}
	b := c.mustStart("127.0.0.12", 0, labelled("blue", "b", seedAddr))
	waitMembers(t, 3*time.Second, "a,b", a, b)
}
