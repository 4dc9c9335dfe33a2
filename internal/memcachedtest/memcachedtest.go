package memcachedtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

const (
	readyTimeout   = 10 * time.Second // how long a fresh process may take to answer "version"
	restartTimeout = 10 * time.Second // how long Restart retries while the old port is still bound
	pollInterval   = 10 * time.Millisecond
)

// knownPaths are tried when memcached is not on PATH (Debian installs it in
// /usr/bin, source builds in /usr/local/bin).
var knownPaths = []string{"/usr/bin/memcached", "/usr/local/bin/memcached"}

// errExited means the process exited before it answered, typically because
// the port was taken.
var errExited = errors.New("memcachedtest: memcached exited early")

// Server is a memcached process listening on 127.0.0.1 with UDP disabled.
// Its methods may be called from any goroutine.
type Server struct {
	// Addr is "127.0.0.1:port"; it stays the same across Restart.
	Addr string

	bin  string
	port int
	tb   testing.TB // nil for servers from StartProcess

	mu     sync.Mutex // guards proc and closed
	proc   *process   // nil while stopped
	closed bool
}

// process is one run of the memcached binary.
type process struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer  // written by exec until exited is closed
	exited chan struct{} // closed once cmd.Wait returned
}

// Find returns the path of the memcached binary: on PATH, or in one of the
// usual install locations.
func Find() (string, error) {
	if p, err := exec.LookPath("memcached"); err == nil {
		return p, nil
	}
	for _, p := range knownPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("memcachedtest: memcached not found on PATH or in " + strings.Join(knownPaths, ", "))
}

// Start starts memcached for the test and stops it in t.Cleanup. Without a
// memcached binary it skips the test, or fails it when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	testkit.SkipShort(t, "starts a memcached process")
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: install the Debian package \"memcached\" (apt-get install memcached)", err)
		}
		t.Skipf("%v; install the Debian package \"memcached\" to run this test", err)
	}
	s, err := StartProcess(bin)
	if err != nil {
		t.Fatal(err)
	}
	s.tb = t
	t.Cleanup(s.Close)
	return s
}

// StartProcess starts memcached outside a test (for commands and tools);
// an empty bin means Find. The caller must call Close.
func StartProcess(bin string) (*Server, error) {
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for range 5 { // a free port can be taken between probing and binding
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := launch(bin, port)
		if err == nil {
			s := &Server{Addr: addrFor(port), bin: bin, port: port, proc: p}
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, lastErr
}

// Pid is the process id of the running memcached, or 0 while it is
// stopped (for benchmarks that charge its CPU time to a row).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Stop kills memcached with SIGKILL and waits for it to exit, simulating a
// crash. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Restart stops memcached if it runs and starts a new, empty process on the
// same port. It fails the test on error; servers from StartProcess, which
// have no test to fail, should call Respawn instead.
func (s *Server) Restart() {
	if s.tb != nil {
		s.tb.Helper()
	}
	if err := s.Respawn(); err != nil {
		if s.tb == nil {
			panic(err) // programmer misuse: Restart without a test
		}
		s.tb.Fatal(err)
	}
}

// Respawn is Restart returning its error. It retries for a while when the
// port is still bound by the old process's sockets.
func (s *Server) Respawn() error {
	s.Stop()
	deadline := time.Now().Add(restartTimeout)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return errors.New("memcachedtest: restart after Close")
		}
		s.mu.Unlock()
		p, err := launch(s.bin, s.port)
		if err == nil {
			return s.adopt(p)
		}
		if !errors.Is(err, errExited) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adopt installs p as the running process unless the server was closed or
// restarted concurrently, in which case p is killed.
func (s *Server) adopt(p *process) error {
	s.mu.Lock()
	if s.closed || s.proc != nil {
		closed := s.closed
		s.mu.Unlock()
		p.kill()
		if closed {
			return errors.New("memcachedtest: closed during restart")
		}
		return errors.New("memcachedtest: concurrent restart")
	}
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Close stops memcached for good. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}

// launch starts memcached on port and waits until it answers "version".
func launch(bin string, port int) (*process, error) {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "-t", "2"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root without -u
	}
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	setParentDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("memcachedtest: start %s: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status of a killed process is expected
		close(p.exited)
	}()
	if err := waitReady(addrFor(port), p.exited); err != nil {
		p.kill()
		return nil, fmt.Errorf("%w (stderr: %q)", err, strings.TrimSpace(p.stderr.String()))
	}
	return p, nil
}

// kill sends SIGKILL and waits until the process has exited.
func (p *process) kill() {
	_ = p.cmd.Process.Kill() // fails only if it already exited
	<-p.exited
}

// waitReady polls addr with a "version" command until memcached answers,
// the process exits, or readyTimeout passes.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		err := ping(addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("memcachedtest: %s not ready after %v: %w", addr, readyTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// ping sends "version" and expects a VERSION reply.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("memcachedtest: unexpected reply %q", line)
	}
	return nil
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("memcachedtest: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func addrFor(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
