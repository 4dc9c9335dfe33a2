package backup

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Servers: []string{"127.0.0.1:11211"}}
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr string // substring; empty means valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"defaults filled", func(c *Config) { d := DefaultConfig(); d.Servers = c.Servers; *c = d }, ""},
		{"ids and failover", func(c *Config) {
			c.Servers = []string{"a:10.0.0.1:11211", "b:mc.example:11211", "[::1]:11211", "c:[::1]:11212"}
			c.Failover = []string{"spare:10.0.0.9:11211"}
		}, ""},
		{"secret 16", func(c *Config) { c.SecretKey = make([]byte, 16) }, ""},
		{"secret 24", func(c *Config) { c.SecretKey = make([]byte, 24) }, ""},
		{"negative CompressAbove disables", func(c *Config) { c.CompressAbove = -1 }, ""},
		{"no servers", func(c *Config) { c.Servers = nil }, "Servers is empty"},
		{"missing port", func(c *Config) { c.Servers = []string{"localhost"} }, "want \"id:host:port\""},
		{"id without port", func(c *Config) { c.Servers = []string{"n1:localhost"} }, "bad port"},
		{"empty host", func(c *Config) { c.Servers = []string{":11211"} }, "want \"id:host:port\""},
		{"port out of range", func(c *Config) { c.Servers = []string{"h:70000"} }, "bad port"},
		{"duplicate id", func(c *Config) { c.Servers = []string{"a:h1:1", "a:h2:1"} }, "repeats"},
		{"duplicate address", func(c *Config) { c.Servers = []string{"h:1", "x:h:1"} }, "repeats"},
		{"failover repeats server", func(c *Config) { c.Failover = []string{"127.0.0.1:11211"} }, "repeats"},
		{"bad failover", func(c *Config) { c.Failover = []string{"nope"} }, "want \"id:host:port\""},
		{"prefix with space", func(c *Config) { c.KeyPrefix = "my app:" }, "KeyPrefix"},
		{"prefix too long", func(c *Config) { c.KeyPrefix = strings.Repeat("p", 201) }, "KeyPrefix"},
		{"secret 20", func(c *Config) { c.SecretKey = make([]byte, 20) }, "SecretKey is 20 bytes"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "Timeout"},
		{"negative DownFor", func(c *Config) { c.DownFor = -1 }, "DownFor"},
		{"negative idle", func(c *Config) { c.MaxIdleConns = -1 }, "MaxIdleConns"},
		{"tiny item size", func(c *Config) { c.MaxItemSize = 100 }, "MaxItemSize"},
		{"huge value size", func(c *Config) { c.MaxValueSize = 2 << 30 }, "MaxValueSize"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want ErrBadConfig mentioning %q", err, tc.wantErr)
			}
			if _, err := New(c); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("New() = %v, want ErrBadConfig", err)
			}
		})
	}
}

func TestParseNode(t *testing.T) {
	cases := []struct{ in, id, addr string }{
		{"127.0.0.1:11211", "127.0.0.1:11211", "127.0.0.1:11211"},
		{"n1:127.0.0.1:11211", "n1", "127.0.0.1:11211"},
		{"localhost:11211", "localhost:11211", "localhost:11211"},
		{"n2:mc.internal:11211", "n2", "mc.internal:11211"},
		{"[::1]:11211", "[::1]:11211", "[::1]:11211"},
		{"n3:[::1]:11211", "n3", "[::1]:11211"},
	}
	for _, tc := range cases {
		n, err := parseNode(tc.in)
		if err != nil || n.id != tc.id || n.addr != tc.addr {
			t.Errorf("parseNode(%q) = (%+v, %v), want id %q addr %q", tc.in, n, err, tc.id, tc.addr)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Servers: []string{"h:1"}, CompressAbove: -1}.withDefaults()
	d := DefaultConfig()
	if c.KeyPrefix != d.KeyPrefix || c.Timeout != d.Timeout || c.MaxItemSize != d.MaxItemSize ||
		c.MaxValueSize != d.MaxValueSize || c.DownFor != d.DownFor || c.MaxIdleConns != d.MaxIdleConns || c.Logger == nil {
		t.Fatalf("withDefaults() = %+v, want the defaults of %+v", c, d)
	}
	if c.CompressAbove != -1 {
		t.Fatalf("withDefaults() CompressAbove = %d, want -1 kept", c.CompressAbove)
	}
}
