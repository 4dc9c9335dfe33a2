package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrUnavailable means this machine cannot build a lab: not root, or `ip`
// or `nft` missing, or network namespaces not supported.
var ErrUnavailable = errors.New("netlab: network namespaces unavailable")

// Host is one host of a Lab.
type Host struct {
	// Name is the host's namespace name (unique per run).
	Name string
	// IP and IP6 are the host's addresses on the lab's bridge.
	IP, IP6 net.IP
}

// Addr returns host:port on the host's IPv4 address.
func (h *Host) Addr(port int) string { return net.JoinHostPort(h.IP.String(), strconv.Itoa(port)) }

// Addr6 returns [host]:port on the host's IPv6 address.
func (h *Host) Addr6(port int) string { return net.JoinHostPort(h.IP6.String(), strconv.Itoa(port)) }

// Command returns a command that runs name with args inside the host's
// network namespace (via `ip netns exec`, which execs name: the process's
// id is the command's, and signals reach it directly).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Lab is a set of hosts on one bridge. Its fault methods may be called
// concurrently; each replaces or adds rules atomically per host.
type Lab struct {
	Hosts []*Host
	// Gateway and Gateway6 are the bridge's addresses: where traffic from
	// the test process comes from. Faults never drop it.
	Gateway, Gateway6 net.IP

	id     int32  // this lab's number in this process
	prefix string // of every root-namespace link name
	bridge string

	// mu serialises fault changes and guards closed and names.
	mu     sync.Mutex
	closed bool
	names  map[string][]int // set by SetName: name -> host indexes
}

// labs numbers the labs of this process, for unique names.
var labs atomic.Int32

// Available reports why a lab cannot be built here (nil if it can).
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (CAP_NET_ADMIN)", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found (Debian packages iproute2 and nftables)", ErrUnavailable, tool)
		}
	}
	if err := run("ip", "netns", "list"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// New builds a lab of n hosts (1 to 200). On error it removes what it made.
func New(n int) (*Lab, error) {
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("netlab: %d hosts, want 1 to 200", n)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	unlock, err := lockSetup()
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStale()
	k, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	id := labs.Add(1)
	l := &Lab{
		id:       id,
		prefix:   fmt.Sprintf("sr%s-%s", strconv.FormatInt(int64(os.Getpid()), 36), strconv.FormatInt(int64(id), 36)),
		Gateway:  net.IPv4(10, 98, byte(k), 254).To4(),
		Gateway6: subnet6(k, 0xfe),
	}
	l.bridge = l.prefix + "b"
	if err := l.build(n, k); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func subnet6(k, host int) net.IP {
	return net.ParseIP(fmt.Sprintf("fd98:0:0:%x::%x", k, host))
}

func (l *Lab) build(n, k int) error {
	if err := runAll(
		[]string{"ip", "link", "add", l.bridge, "type", "bridge"},
		[]string{"ip", "addr", "add", l.Gateway.String() + "/24", "dev", l.bridge},
		[]string{"ip", "-6", "addr", "add", l.Gateway6.String() + "/64", "dev", l.bridge, "nodad"},
		[]string{"ip", "link", "set", l.bridge, "up"},
	); err != nil {
		return err
	}
	for i := range n {
		h := &Host{
			Name: fmt.Sprintf("sessring-%d-%d-h%d", os.Getpid(), l.id, i),
			IP:   net.IPv4(10, 98, byte(k), byte(i+1)).To4(),
			IP6:  subnet6(k, i+1),
		}
		l.Hosts = append(l.Hosts, h)
		veth := fmt.Sprintf("%sh%d", l.prefix, i)
		if err := runAll(
			[]string{"ip", "netns", "add", h.Name},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.Name},
			[]string{"ip", "link", "set", veth, "master", l.bridge, "up"},
			[]string{"ip", "-n", h.Name, "addr", "add", h.IP.String() + "/24", "dev", "eth0"},
			[]string{"ip", "-n", h.Name, "-6", "addr", "add", h.IP6.String() + "/64", "dev", "eth0", "nodad"},
			[]string{"ip", "-n", h.Name, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", h.Name, "link", "set", "lo", "up"},
		); err != nil {
			return err
		}
		if err := nft(h, baseRules); err != nil {
			return err
		}
	}
	return nil
}

// baseRules creates the table whose input chain holds the faults.
const baseRules = `table inet sessring {
	chain input { type filter hook input priority 0; policy accept; }
}
`

// Close removes every namespace, link and rule the lab made. Processes still
// running in a host keep its namespace alive until they exit, but its name
// and bridge port are gone. It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	if err := l.removeNamesLocked(); err != nil {
		errs = append(errs, err)
	}
	for _, h := range l.Hosts {
		if err := run("ip", "netns", "del", h.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if l.bridge != "" {
		if err := run("ip", "link", "del", l.bridge); err != nil && linkExists(l.bridge) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run runs one command, returning its output in the error on failure.
func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// lockSetup serialises lab construction between processes (go test runs
// packages in parallel), so two labs never take the same subnet.
func lockSetup() (func(), error) {
	f, err := os.OpenFile(os.TempDir()+"/sessring-netlab.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("netlab: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("netlab: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// freeSubnet returns K such that no address of this machine's namespace lies
// in 10.98.K.0/24.
func freeSubnet() (int, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, fmt.Errorf("netlab: %w", err)
	}
	used := map[int]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 10 && ip4[1] == 98 {
				used[int(ip4[2])] = true
			}
			if ipn.Contains(net.IPv4(10, 98, 0, 1)) && !ipn.IP.Equal(net.IPv4(10, 98, 0, 1)) {
				return 0, fmt.Errorf("netlab: %s already covers 10.98.0.0/16", ipn)
			}
		}
	}
	for k := 1; k < 255; k++ {
		if !used[k] {
			return k, nil
		}
	}
	return 0, errors.New("netlab: no free /24 in 10.98.0.0/16")
}

// removeStale deletes the namespaces and links of labs whose process is
// gone.
func removeStale() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "sessring-") {
			continue
		}
		parts := strings.Split(f[0], "-")
		if pid, err := strconv.Atoi(parts[1]); err == nil && !alive(pid) {
			run("ip", "netns", "del", f[0])
		}
	}
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		rest, ok := strings.CutPrefix(ifc.Name, "sr")
		pid36, _, found := strings.Cut(rest, "-")
		if !ok || !found {
			continue
		}
		if pid, err := strconv.ParseInt(pid36, 36, 64); err == nil && !alive(int(pid)) {
			run("ip", "link", "del", ifc.Name)
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
