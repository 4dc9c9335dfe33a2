package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

// extServer is a memcached or redis-server process this command started on
// a free loopback port.
type extServer struct {
	Addr   string
	cmd    *exec.Cmd
	out    bytes.Buffer // written by exec until exited is closed
	exited chan struct{}
	dir    string // scratch directory (redis), removed on close
}

var errExitedEarly = errors.New("exited before answering")

// findBinary looks name up on PATH, then in the Debian and source-build
// locations.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin"} {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH, in /usr/bin or /usr/local/bin (Debian package %q)", name, debianPackage(name))
}

func debianPackage(bin string) string {
	if bin == "redis-server" {
		return "redis-server"
	}
	return bin
}

// startMemcached starts memcached with 256 MiB, TCP only, on 127.0.0.1.
func startMemcached() (*extServer, error) {
	bin, err := findBinary("memcached")
	if err != nil {
		return nil, err
	}
	return startExt(func(port int) []string {
		args := []string{bin, "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "256", "-t", "2"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root") // memcached refuses root without -u
		}
		return args
	}, "", "version\r\n", "VERSION ")
}

// startRedis starts redis-server without persistence on 127.0.0.1.
func startRedis() (*extServer, error) {
	bin, err := findBinary("redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sessring-bench-redis")
	if err != nil {
		return nil, err
	}
	s, err := startExt(func(port int) []string {
		return []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"}
	}, dir, "PING\r\n", "+PONG")
	if err != nil {
		os.RemoveAll(dir)
	}
	return s, err
}

// startExt launches argv(port) on a free port, retrying when the port was
// taken between probing and binding, and waits until ping gets want.
func startExt(argv func(port int) []string, dir, ping, want string) (*extServer, error) {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launchExt(argv(port), port, dir, ping, want)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errExitedEarly) {
			break
		}
	}
	return nil, lastErr
}

func launchExt(args []string, port int, dir, ping, want string) (*extServer, error) {
	s := &extServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{}), dir: dir}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	proc.DieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	go func() {
		_ = s.cmd.Wait() // a killed server's exit status is expected
		close(s.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s: %w: %s", args[0], errExitedEarly, lastLine(s.out.String()))
		default:
		}
		err := pingServer(s.Addr, ping, want)
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("%s on %s not ready: %w", args[0], s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// name is the server's program name ("memcached", "redis-server").
func (s *extServer) name() string { return filepath.Base(s.cmd.Path) }

// Close kills the server and waits for it. It is idempotent.
func (s *extServer) Close() {
	if s == nil {
		return
	}
	_ = s.cmd.Process.Kill() // fails only if it already exited
	<-s.exited
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func pingServer(addr, ping, want string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(ping)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
