package gossip_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
)

func TestDefaultConfig(t *testing.T) {
	c := gossip.DefaultConfig()
	c.Name = "a"
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig() with a Name: Validate() = %v, want nil", err)
	}
	if c.ProbeInterval != 500*time.Millisecond || c.ProbeTimeout != 250*time.Millisecond {
		t.Errorf("DefaultConfig() probe = %v/%v, want 500ms/250ms", c.ProbeInterval, c.ProbeTimeout)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*gossip.Config)
		msg    string // "" means valid
	}{
		{"zero config with a name uses defaults", func(c *gossip.Config) { *c = gossip.Config{Name: "a"} }, ""},
		{"missing name", func(c *gossip.Config) { c.Name = "" }, "Name is required"},
		{"long name", func(c *gossip.Config) { c.Name = strings.Repeat("n", 129) }, "Name is 129 bytes"},
		{"bind without port", func(c *gossip.Config) { c.BindAddr = "10.0.0.1" }, "BindAddr"},
		{"bind host not ip", func(c *gossip.Config) { c.BindAddr = "example.com:7946" }, "not an IP"},
		{"bind bad port", func(c *gossip.Config) { c.BindAddr = "10.0.0.1:99999" }, "bad port"},
		{"empty bind host ok", func(c *gossip.Config) { c.BindAddr = ":0" }, ""},
		{"advertise ip only ok", func(c *gossip.Config) { c.AdvertiseAddr = "10.0.0.1" }, ""},
		{"advertise ip:port ok", func(c *gossip.Config) { c.AdvertiseAddr = "10.0.0.1:7000" }, ""},
		{"advertise not ip", func(c *gossip.Config) { c.AdvertiseAddr = "host:7000" }, "AdvertiseAddr"},
		{"empty seed", func(c *gossip.Config) { c.Join = []string{"10.0.0.1:7946", ""} }, "Join[1] is empty"},
		{"negative timeout", func(c *gossip.Config) { c.JoinTimeout = -time.Second }, "JoinTimeout is negative"},
		{"probe timeout too long", func(c *gossip.Config) { c.ProbeTimeout = time.Second }, "must be below ProbeInterval"},
		{"negative suspicion", func(c *gossip.Config) { c.SuspicionMult = -1 }, "SuspicionMult"},
		{"bad key size", func(c *gossip.Config) { c.SecretKey = make([]byte, 10) }, "SecretKey is 10 bytes"},
		{"32-byte key ok", func(c *gossip.Config) { c.SecretKey = bytes.Repeat([]byte{1}, 32) }, ""},
		{"all-zero key", func(c *gossip.Config) { c.SecretKey = make([]byte, 32) }, "all zero"},
		{"old key without key", func(c *gossip.Config) { c.OldSecretKeys = [][]byte{bytes.Repeat([]byte{1}, 32)} }, "need a SecretKey"},
		{"bad old key", func(c *gossip.Config) {
			c.SecretKey, c.OldSecretKeys = bytes.Repeat([]byte{1}, 32), [][]byte{make([]byte, 7)}
		}, "OldSecretKeys[0]"},
		{"long label", func(c *gossip.Config) { c.Label = strings.Repeat("l", 256) }, "Label is 256 bytes"},
		{"bad meta", func(c *gossip.Config) { c.Meta.RPCAddr = "no-port" }, "Meta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := gossip.DefaultConfig()
			c.Name = "a"
			tt.modify(&c)
			err := c.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, gossip.ErrBadConfig) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate() = %v, want ErrBadConfig mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestNewRejectsBadConfigAndFreesTransport(t *testing.T) {
	c := newCluster(t)
	cfg := fastConfig(t, "")
	_, err := c.start("127.0.0.11", 7946, cfg)
	if !errors.Is(err, gossip.ErrBadConfig) {
		t.Fatalf("New(no name) error = %v, want ErrBadConfig", err)
	}
	// The transport given in the config was shut down: its port is free.
	c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
}
