package rpc

import (
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero value", Config{}, false},
		{"defaults", DefaultConfig(), false},
		{"negative ConnsPerPeer", Config{ConnsPerPeer: -1}, true},
		{"negative MaxFrame", Config{MaxFrame: -1}, true},
		{"MaxFrame over 1 GiB", Config{MaxFrame: 1<<30 + 1}, true},
		{"MaxFrame 1 GiB", Config{MaxFrame: 1 << 30}, false},
		{"negative CallTimeout", Config{CallTimeout: -time.Second}, true},
		{"negative DialTimeout", Config{DialTimeout: -1}, true},
		{"negative WriteTimeout", Config{WriteTimeout: -1}, true},
		{"negative IdleTimeout", Config{IdleTimeout: -1}, true},
		{"negative MaxInFlight", Config{MaxInFlight: -1}, true},
	} {
		err := tc.cfg.Validate()
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("%s: Validate() = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: Validate() = %v, want it to wrap ErrBadConfig", tc.name, err)
		}
	}
}

func TestDefaultsFillZeroFields(t *testing.T) {
	got, err := Config{ConnsPerPeer: 5}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults() error = %v", err)
	}
	want := DefaultConfig()
	if got.ConnsPerPeer != 5 {
		t.Errorf("ConnsPerPeer = %d, want 5 (explicit value kept)", got.ConnsPerPeer)
	}
	if got.MaxFrame != want.MaxFrame || got.CallTimeout != want.CallTimeout ||
		got.DialTimeout != want.DialTimeout || got.WriteTimeout != want.WriteTimeout ||
		got.IdleTimeout != want.IdleTimeout || got.MaxInFlight != want.MaxInFlight {
		t.Errorf("withDefaults() = %+v, want zero fields from %+v", got, want)
	}
	if got.Dial == nil || got.Logger == nil {
		t.Errorf("withDefaults() Dial=%v Logger=%v, want both set", got.Dial != nil, got.Logger != nil)
	}
}

func TestConstructorsRejectBadConfig(t *testing.T) {
	bad := Config{MaxInFlight: -1}
	if _, err := NewClient(bad); !errors.Is(err, ErrBadConfig) {
		t.Errorf("NewClient(bad) error = %v, want ErrBadConfig", err)
	}
	if _, err := NewServer(bad, &testHandler{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("NewServer(bad) error = %v, want ErrBadConfig", err)
	}
	if _, err := NewServer(Config{}, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("NewServer(nil handler) error = %v, want ErrBadConfig", err)
	}
}

func TestServeAfterClose(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	s, err := NewServer(Config{}, &testHandler{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	l := tcpNet{}.Listen(t, "")
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("listener still open after Serve on a closed Server, want it closed")
	}
}
