package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // substring; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero config", func(c *Config) { *c = Config{} }, ""},
		{"negative lifetime", func(c *Config) { c.Lifetime = -time.Second }, "Lifetime is negative"},
		{"touch with idle expiry off", func(c *Config) { c.IdleTimeout, c.TouchInterval = -1, time.Second }, "idle expiry off"},
		{"touch above the default idle timeout", func(c *Config) { c.IdleTimeout, c.TouchInterval = 0, time.Hour }, "must be below IdleTimeout"},
		{"touch not below idle", func(c *Config) { c.IdleTimeout = time.Minute; c.TouchInterval = time.Minute }, "must be below"},
		{"pattern with LockNone", func(c *Config) { c.LockPattern = regexp.MustCompile("x") }, "no effect"},
		{"unknown lock mode", func(c *Config) { c.Locking = 9 }, "unknown LockMode"},
		{"bad cookie name", func(c *Config) { c.Cookie.Name = "my session" }, "RFC 6265"},
		{"bad header name", func(c *Config) { c.TokenHeader = "X Session" }, "header name"},
		{"SameSite None without Secure", func(c *Config) { c.Cookie.SameSite = http.SameSiteNoneMode }, "SameSite=None"},
		{"SameSite None with Secure", func(c *Config) {
			c.Cookie.SameSite, c.Cookie.Secure = http.SameSiteNoneMode, SecureAlways
		}, ""},
		{"__Host- with auto", func(c *Config) { c.Cookie.Name = "__Host-s" }, "__Host-s"},
		{"__Host- with domain", func(c *Config) {
			c.Cookie.Name, c.Cookie.Secure, c.Cookie.Domain = "__Host-s", SecureAlways, "example.com"
		}, "__Host-s"},
		{"__Host- right", func(c *Config) { c.Cookie.Name, c.Cookie.Secure = "__Host-s", SecureAlways }, ""},
		{"negative size", func(c *Config) { c.MaxSessionBytes = -1 }, "MaxSessionBytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrBadConfig)):
				t.Errorf("Validate() = %v, want ErrBadConfig mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestZeroConfigGetsSecureDefaults(t *testing.T) {
	m, err := New(memstore.New(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := m.cfg
	if !*c.Cookie.HttpOnly || !*c.Cookie.Persist || c.Cookie.SameSite != http.SameSiteLaxMode ||
		c.Cookie.Name != "sessring" || c.Lifetime != 24*time.Hour || c.LockWait != store.DefaultOpTimeout || c.StoreTimeout != store.DefaultOpTimeout ||
		c.MaxSessionBytes != 256<<10 || c.CompressAbove != 1024 {
		t.Errorf("zero Config filled as %+v", c)
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("New(nil) = %v, want ErrBadConfig", err)
	}
}

func TestTouchIntervalDefault(t *testing.T) {
	tests := []struct{ idle, want time.Duration }{
		{30 * time.Second, 3 * time.Second},
		{20 * time.Minute, time.Minute}, // capped
	}
	for _, tc := range tests {
		c := Config{IdleTimeout: tc.idle}.withDefaults()
		if c.TouchInterval != tc.want {
			t.Errorf("IdleTimeout %v: TouchInterval = %v, want %v", tc.idle, c.TouchInterval, tc.want)
		}
	}
}

func TestHttpOnlyOffIsLogged(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cookie.HttpOnly = new(false)
	e := newEnv(t, cfg, nil)
	if !strings.Contains(e.log.String(), "not HttpOnly") {
		t.Errorf("disabling HttpOnly was not logged")
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", ErrLockTimeout), 503},
		{fmt.Errorf("x: %w", store.ErrUnavailable), 503},
		{fmt.Errorf("x: %w", store.ErrLeaseLost), 503},
		{context.DeadlineExceeded, 503},
		{ErrSessionTooLarge, 500},
		{errors.New("other"), 500},
	}
	for _, tc := range tests {
		if got := StatusFor(tc.err); got != tc.want {
			t.Errorf("StatusFor(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestValidateToken(t *testing.T) {
	tests := []struct {
		tok string
		ok  bool
	}{
		{"abc-_XYZ09", true},
		{"", false},
		{"a b", false},
		{"a=b", false},
		{strings.Repeat("a", store.MaxTokenLen), true},
		{strings.Repeat("a", store.MaxTokenLen+1), false},
	}
	for _, tc := range tests {
		err := ValidateToken(tc.tok)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadToken)) {
			t.Errorf("ValidateToken(%q) = %v, want ok=%v", tc.tok, err, tc.ok)
		}
	}
}
