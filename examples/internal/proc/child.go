package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Errors from Start and Expect, wrapped with the details.
var (
	// ErrExited means the child exited before it was ready.
	ErrExited = errors.New("proc: exited before it was ready")
	// ErrNotReady means no line was accepted within Start's timeout.
	ErrNotReady = errors.New("proc: not ready")
	// ErrUnexpected is Expect's rejection of a line.
	ErrUnexpected = errors.New("proc: unexpected line")
)

// Ready judges a line a starting child wrote to stdout: true if the line
// says the child is ready, an error if it says the child failed, false and
// nil for a line to skip.
type Ready func(line string) (bool, error)

// Expect returns a Ready func that accepts "<word> f1 ... fn", with as many
// fields after word as there are dst, storing the fields in dst, and rejects
// any other line with ErrUnexpected.
func Expect(word string, dst ...*string) Ready {
	return func(line string) (bool, error) {
		f := strings.Fields(line)
		if len(f) != len(dst)+1 || f[0] != word {
			return false, fmt.Errorf("%w %q", ErrUnexpected, line)
		}
		for i, d := range dst {
			*d = f[i+1]
		}
		return true, nil
	}
}

// Child is a running child process started by Start. Its methods may be
// called concurrently.
type Child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it asks the child to leave
	done  chan struct{}  // closed once the child has exited
}

// Self returns a command that runs this executable again with env
// ("KEY=value") added to this process's environment, its stderr going to
// this process's stderr, and DieWithParent set.
func Self(env ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	DieWithParent(cmd)
	return cmd, nil
}

// Start starts cmd with its stdin and stdout piped to this process and
// waits until ready accepts a line of its stdout. ready is called from one
// goroutine, in order, for each line up to the one it accepts or rejects;
// what it stores before accepting is visible to the caller once Start
// returns. The lines after that one go to the writer cmd.Stdout held (nil:
// they are discarded).
//
// If ready rejects a line, the child exits first (ErrExited) or timeout
// passes (ErrNotReady), Start kills the child, waits until it has exited and
// returns the error.
func Start(cmd *exec.Cmd, timeout time.Duration, ready Ready) (*Child, error) {
	after := cmd.Stdout
	cmd.Stdout = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("proc: %w", err)
	}
	if err := cmd.Start(); err != nil { // closes the pipes on failure
		return nil, fmt.Errorf("proc: start %s: %w", cmd.Path, err)
	}
	c := &Child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	result := make(chan error, 1)
	go c.read(out, after, ready, result)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-result:
	case <-timer.C:
		err = fmt.Errorf("%w within %v", ErrNotReady, timeout)
	}
	if err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}

// read hands the child's stdout to ready line by line until it decides,
// then to after, sends the decision (ErrExited if there was none) on result,
// and reaps the child. Wait comes last, as it closes the pipe.
func (c *Child) read(out io.Reader, after io.Writer, ready Ready, result chan<- error) {
	decided := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if decided {
			if after != nil {
				fmt.Fprintln(after, sc.Text())
			}
			continue
		}
		if ok, err := ready(sc.Text()); ok || err != nil {
			decided = true
			result <- err
		}
	}
	io.Copy(io.Discard, out) // after a line too long to scan: never block the child
	c.cmd.Wait()             // a killed child's exit status is expected
	if !decided {
		result <- fmt.Errorf("%w: %v", ErrExited, c.cmd.ProcessState)
	}
	close(c.done)
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Done is closed once the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether the child has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the child without waiting; it does nothing once the
// child has exited.
func (c *Child) Signal(sig os.Signal) {
	c.cmd.Process.Signal(sig) // fails only if it already exited
}

// Kill kills the child, as a crash would (SIGKILL on Unix), and returns
// once it has exited.
func (c *Child) Kill() {
	c.cmd.Process.Kill() // fails only if it already exited
	<-c.done
}

// Stop asks the child to leave by closing its stdin, waits up to grace for
// it to exit, then kills it. With grace 0 it closes stdin and kills at once,
// for a throwaway child with nothing to hand over.
func (c *Child) Stop(grace time.Duration) {
	c.stdin.Close()
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
	c.Kill()
}
