package netlab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// The tests run small helper processes inside the hosts: this test binary
// re-executed with childEnv set ("serve" or "dial <addr>").
const childEnv = "NETLAB_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

const echoPort = 7700

// child serves a TCP echo on echoPort ("serve", printing READY) or dials
// addr once with a short timeout ("dial addr", exit 0 on an echo).
func child(spec string) int {
	f := strings.Fields(spec)
	switch f[0] {
	case "serve":
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(echoPort))
		if err != nil {
			fmt.Println("ERROR", err)
			return 1
		}
		fmt.Println("READY")
		go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", f[1], 700*time.Millisecond)
		if err != nil {
			return 1
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(700 * time.Millisecond))
		if _, err := c.Write([]byte("x")); err != nil {
			return 1
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return 1
		}
		return 0
	case "resolve":
		ips, err := net.LookupIP(f[1])
		if err != nil {
			fmt.Println("ERROR", err)
			return 1
		}
		var s []string
		for _, ip := range ips {
			s = append(s, ip.String())
		}
		slices.Sort(s)
		fmt.Println(strings.Join(s, " "))
		return 0
	}
	return 2
}

// newLab builds a lab or skips (fails under CI=true) where none can be built.
func newLab(t *testing.T, n int) *Lab {
	testkit.SkipShort(t, "creates network namespaces")
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true needs network namespaces: %v", err)
		}
		t.Skipf("no network namespaces here: %v", err)
	}
	l, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// serve starts an echo server in every host.
func serve(t *testing.T, l *Lab) {
	t.Helper()
	for _, h := range l.Hosts {
		cmd := h.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=serve")
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
		line, _ := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) != "READY" {
			t.Fatalf("echo server in %s: %q", h.Name, line)
		}
	}
}

// reaches reports whether a TCP echo from host i (or from the test, i < 0)
// to addr succeeds.
func reaches(t *testing.T, l *Lab, i int, addr string) bool {
	t.Helper()
	if i < 0 {
		c, err := net.DialTimeout("tcp", addr, 700*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	cmd := l.Hosts[i].Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=dial "+addr)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return err == nil
}

type path struct {
	from, to int // host indexes; from -1 is the test process
	v6       bool
	want     bool
}

func checkPaths(t *testing.T, l *Lab, what string, paths []path) {
	t.Helper()
	for _, p := range paths {
		addr := l.Hosts[p.to].Addr(echoPort)
		if p.v6 {
			addr = l.Hosts[p.to].Addr6(echoPort)
		}
		if got := reaches(t, l, p.from, addr); got != p.want {
			t.Errorf("%s: %d -> %s reachable = %v, want %v\nrules of the target:\n%s", what, p.from, addr, got, p.want, l.Rules(p.to))
		}
	}
}

func TestLabFaults(t *testing.T) {
	l := newLab(t, 3)
	serve(t, l)
	checkPaths(t, l, "healthy", []path{
		{0, 1, false, true}, {1, 2, true, true}, {2, 0, false, true}, {-1, 0, false, true}, {-1, 2, true, true},
	})

	if err := l.Partition([]int{0}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	checkPaths(t, l, "partition 0|1,2", []path{
		{0, 1, false, false}, {1, 0, true, false}, {1, 2, false, true}, {2, 1, true, true}, {-1, 0, false, true},
	})

	if err := l.Cut(0, 1); err != nil {
		t.Fatal(err)
	}
	// A handshake needs both ways, so TCP fails both ways; the other
	// pairs are untouched (the cut replaced the partition).
	checkPaths(t, l, "cut 0->1", []path{
		{0, 1, false, false}, {1, 0, false, false}, {0, 2, false, true}, {2, 0, true, true}, {-1, 1, false, true},
	})

	if err := l.Loss(100); err != nil {
		t.Fatal(err)
	}
	checkPaths(t, l, "loss 100%", []path{{0, 1, false, false}, {2, 1, true, false}, {-1, 1, false, true}, {-1, 2, true, true}})

	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	checkPaths(t, l, "healed", []path{{0, 1, false, true}, {1, 0, true, true}, {2, 1, false, true}})
}

func TestLabCloseRemovesEverything(t *testing.T) {
	l := newLab(t, 2)
	names := []string{l.Hosts[0].Name, l.Hosts[1].Name}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s still listed after Close: %s", n, out)
		}
	}
	if linkExists(l.bridge) {
		t.Errorf("bridge %s still exists after Close", l.bridge)
	}
}

// A run killed before its cleanup leaves namespaces and links behind; the
// next New removes them.
func TestNewRemovesStaleLabs(t *testing.T) {
	if err := Available(); err != nil {
		newLab(t, 1) // skips or fails as appropriate
	}
	// A process id that is not running: a finished child's.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid
	ns := fmt.Sprintf("sessring-%d-1-h0", pid)
	link := fmt.Sprintf("sr%s-1b", strconv.FormatInt(int64(pid), 36))
	if err := runAll([]string{"ip", "netns", "add", ns}, []string{"ip", "link", "add", link, "type", "bridge"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run("ip", "netns", "del", ns); run("ip", "link", "del", link) })
	newLab(t, 1)
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), ns) {
		t.Errorf("stale namespace %s survived New", ns)
	}
	if linkExists(link) {
		t.Errorf("stale link %s survived New", link)
	}
}

// TestSetName: a name set for some hosts resolves to their addresses inside
// every host, and its files go with the lab. (It is not looked up outside
// the lab: that would ask this machine's name server.)
func TestSetName(t *testing.T) {
	l := newLab(t, 3)
	if err := l.SetName("seeds.lab.test", 0, 2); err != nil {
		t.Fatal(err)
	}
	want := []string{l.Hosts[0].IP.String(), l.Hosts[2].IP.String()}
	slices.Sort(want)
	for _, h := range l.Hosts {
		cmd := h.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=resolve seeds.lab.test")
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != strings.Join(want, " ") {
			t.Errorf("in %s, seeds.lab.test resolves to %q (%v), want %q", h.Name, got, err, strings.Join(want, " "))
		}
	}
	dir := filepath.Join(netnsEtc, l.Hosts[0].Name)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Close (%v)", dir, err)
	}
}
