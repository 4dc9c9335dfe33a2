package memcachedtest

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping(%s) after Start = %v, want nil", s.Addr, err)
	}

	s.Stop()
	if err := ping(s.Addr); err == nil {
		t.Fatalf("ping(%s) after Stop = nil, want an error", s.Addr)
	}
	s.Stop() // idempotent

	addr := s.Addr
	s.Restart()
	if s.Addr != addr {
		t.Fatalf("Addr after Restart = %s, want %s", s.Addr, addr)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping(%s) after Restart = %v, want nil", s.Addr, err)
	}
	s.Restart() // restart of a running server replaces the process
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping(%s) after second Restart = %v, want nil", s.Addr, err)
	}
}

func TestStartProcessClose(t *testing.T) {
	bin, err := Find()
	if err != nil {
		t.Skip(err)
	}
	s, err := StartProcess(bin)
	if err != nil {
		t.Fatalf("StartProcess(%q) = %v", bin, err)
	}
	s.Close()
	s.Close() // idempotent
	if err := ping(s.Addr); err == nil {
		t.Fatalf("ping(%s) after Close = nil, want an error", s.Addr)
	}
	if err := s.Respawn(); err == nil {
		t.Fatal("Respawn after Close = nil, want an error")
	}
}

func TestStartProcessBadBinary(t *testing.T) {
	_, err := StartProcess("/nonexistent/memcached")
	if err == nil {
		t.Fatal("StartProcess(/nonexistent/memcached) = nil error, want one")
	}
}

func TestWaitReadyExited(t *testing.T) {
	exited := make(chan struct{})
	close(exited)
	// Nothing listens on a just-freed port, so only the exit ends the wait.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	if err := waitReady(addr, exited); !errors.Is(err, errExited) {
		t.Fatalf("waitReady on exited process = %v, want errExited", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waitReady took %v after exit, want immediate", d)
	}
}
