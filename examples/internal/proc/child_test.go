package proc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

// modeEnv makes this test binary a child: its value says which kind.
const modeEnv = "PROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(modeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

// runChild is this binary as a child process of a test.
func runChild(mode string) int {
	switch mode {
	case "ready", "chatty": // a well-behaved node: leaves when its stdin closes
		if mode == "chatty" {
			fmt.Println("starting")
		}
		fmt.Println("READY 127.0.0.1:1")
		fmt.Println("serving")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "stubborn": // ready, but ignores its stdin closing
		fmt.Println("READY 127.0.0.1:2")
		time.Sleep(time.Minute)
		return 0
	case "fail":
		fmt.Println("ERROR address in use")
		time.Sleep(time.Minute) // Start must not wait for the exit
		return 1
	case "silent":
		return 3
	case "slow": // never ready
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "parent":
		return runParent()
	}
	fmt.Fprintf(os.Stderr, "unknown %s %q\n", modeEnv, mode)
	return 2
}

// runParent starts a stubborn grandchild with DieWithParent, reports its
// pid and waits to be killed.
func runParent() int {
	cmd, err := proc.Self(modeEnv + "=stubborn")
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	var addr string
	c, err := proc.Start(cmd, 30*time.Second, proc.Expect("READY", &addr))
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("READY", c.Pid())
	io.Copy(io.Discard, os.Stdin)
	c.Kill()
	return 0
}

// startChild starts this test binary in mode and stops it when the test
// ends. The command is returned for its ProcessState, which is set once the
// child is done.
func startChild(t *testing.T, mode string, stdout io.Writer, ready proc.Ready) (*proc.Child, *exec.Cmd) {
	t.Helper()
	cmd, err := proc.Self(modeEnv + "=" + mode)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = stdout
	c, err := proc.Start(cmd, 30*time.Second, ready)
	if err != nil {
		t.Fatalf("Start(%s) = %v, want a ready child", mode, err)
	}
	t.Cleanup(func() { c.Stop(0) })
	return c, cmd
}

func TestStartHandsLinesToReadyThenStdout(t *testing.T) {
	var seen []string
	var addr string
	expect := proc.Expect("READY", &addr)
	ready := func(line string) (bool, error) {
		seen = append(seen, line)
		if strings.HasPrefix(line, "READY") {
			return expect(line)
		}
		return false, nil
	}
	var out bytes.Buffer
	c, cmd := startChild(t, "chatty", &out, ready)
	if want := []string{"starting", "READY 127.0.0.1:1"}; !slices.Equal(seen, want) {
		t.Errorf("ready saw %q, want %q", seen, want)
	}
	if addr != "127.0.0.1:1" {
		t.Errorf("addr = %q, want %q", addr, "127.0.0.1:1")
	}
	if c.Exited() {
		t.Fatalf("Exited() = true right after Start, want false")
	}
	c.Stop(30 * time.Second)
	if got := cmd.ProcessState.ExitCode(); got != 0 {
		t.Errorf("exit code after Stop = %d (%v), want 0: the child leaves when its stdin closes", got, cmd.ProcessState)
	}
	if got, want := out.String(), "serving\n"; got != want {
		t.Errorf("cmd.Stdout got %q, want %q", got, want)
	}
	if !c.Exited() {
		t.Errorf("Exited() = false after Stop, want true")
	}
}

func TestStartFails(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		timeout time.Duration
		want    error
		wantMsg string
	}{
		{"rejected line", "fail", 30 * time.Second, proc.ErrUnexpected, `proc: unexpected line "ERROR address in use"`},
		{"exited first", "silent", 30 * time.Second, proc.ErrExited, "proc: exited before it was ready: exit status 3"},
		{"timeout", "slow", 200 * time.Millisecond, proc.ErrNotReady, "proc: not ready within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := proc.Self(modeEnv + "=" + tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			var addr string
			start := time.Now()
			c, err := proc.Start(cmd, tt.timeout, proc.Expect("READY", &addr))
			if c != nil || !errors.Is(err, tt.want) || err.Error() != tt.wantMsg {
				t.Fatalf("Start = %v, %v; want nil, %q", c, err, tt.wantMsg)
			}
			if cmd.ProcessState == nil {
				t.Errorf("Start returned before the child exited")
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("Start took %v, want it to kill the child at once", d)
			}
		})
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	var addr string
	c, cmd := startChild(t, "stubborn", nil, proc.Expect("READY", &addr))
	start := time.Now()
	c.Stop(200 * time.Millisecond)
	if d := time.Since(start); d < 200*time.Millisecond || d > 20*time.Second {
		t.Errorf("Stop(200ms) took %v, want about 200ms", d)
	}
	if cmd.ProcessState.Success() {
		t.Errorf("a child that ignores its stdin ended with %v, want killed", cmd.ProcessState)
	}
}

func TestSelfAddsEnv(t *testing.T) {
	cmd, err := proc.Self("A=1", "B=2")
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if cmd.Path != exe {
		t.Errorf("Self().Path = %q, want %q", cmd.Path, exe)
	}
	if got, want := cmd.Env[len(cmd.Env)-2:], []string{"A=1", "B=2"}; !slices.Equal(got, want) {
		t.Errorf("Self().Env ends with %q, want %q", got, want)
	}
	if cmd.Stderr != os.Stderr {
		t.Errorf("Self().Stderr = %v, want os.Stderr", cmd.Stderr)
	}
}

func TestExpect(t *testing.T) {
	tests := []struct {
		name, line string
		wantOK     bool
		wantErr    error
		wantA      string
		wantB      string
	}{
		{"ready", "READY 1.2.3.4:5 6.7.8.9:10", true, nil, "1.2.3.4:5", "6.7.8.9:10"},
		{"extra spaces", "  READY a   b ", true, nil, "a", "b"},
		{"error line", "ERROR bind: address in use", false, proc.ErrUnexpected, "", ""},
		{"too few fields", "READY a", false, proc.ErrUnexpected, "", ""},
		{"too many fields", "READY a b c", false, proc.ErrUnexpected, "", ""},
		{"empty", "", false, proc.ErrUnexpected, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b string
			ok, err := proc.Expect("READY", &a, &b)(tt.line)
			if ok != tt.wantOK || !errors.Is(err, tt.wantErr) || a != tt.wantA || b != tt.wantB {
				t.Errorf("Expect(READY)(%q) = %v, %v (a=%q b=%q); want %v, %v (a=%q b=%q)",
					tt.line, ok, err, a, b, tt.wantOK, tt.wantErr, tt.wantA, tt.wantB)
			}
		})
	}
}
