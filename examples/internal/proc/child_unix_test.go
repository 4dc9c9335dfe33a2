//go:build unix

package proc_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

func TestKillAndSignal(t *testing.T) {
	tests := []struct {
		name string
		stop func(*proc.Child)
		want string
	}{
		{"Kill", func(c *proc.Child) { c.Kill() }, "signal: killed"},
		{"Signal SIGTERM", func(c *proc.Child) { c.Signal(syscall.SIGTERM); <-c.Done() }, "signal: terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			c, cmd := startChild(t, "ready", nil, proc.Expect("READY", &addr))
			tt.stop(c)
			if !c.Exited() {
				t.Fatalf("Exited() = false, want true")
			}
			if got := cmd.ProcessState.String(); got != tt.want {
				t.Errorf("child ended with %q, want %q", got, tt.want)
			}
			c.Signal(syscall.SIGTERM) // no-ops once exited
			c.Kill()
		})
	}
}

func TestOwnGroup(t *testing.T) {
	tests := []struct {
		name     string
		ownGroup bool
	}{
		{"own group", true},
		{"parent's group", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := proc.Self(modeEnv + "=ready")
			if err != nil {
				t.Fatal(err)
			}
			if tt.ownGroup {
				proc.OwnGroup(cmd)
			}
			var addr string
			c, err := proc.Start(cmd, 30*time.Second, proc.Expect("READY", &addr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop(0)
			got, err := syscall.Getpgid(c.Pid())
			if err != nil {
				t.Fatal(err)
			}
			want := syscall.Getpgrp()
			if tt.ownGroup {
				want = c.Pid()
			}
			if got != want {
				t.Errorf("child's process group = %d, want %d", got, want)
			}
		})
	}
}
