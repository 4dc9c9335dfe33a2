package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// netnsEtc holds each namespace's own copies of /etc files: `ip netns exec`
// bind-mounts /etc/netns/<namespace>/hosts over /etc/hosts (and likewise
// resolv.conf) for the command it runs, so a name set here resolves only
// in the lab's hosts.
const netnsEtc = "/etc/netns"

// SetName makes name resolve, in every host of the lab, to the IPv4
// addresses of the given hosts (indexes into Hosts), as a Kubernetes
// headless Service's name resolves to the addresses of its pods. It writes
// each host's own hosts file, and a resolv.conf naming only the host's
// loopback as name server, so that no lookup made in a host leaves the lab.
// Commands started afterwards see the names; each call adds or replaces
// one name. Close removes the files.
func (l *Lab) SetName(name string, hosts ...int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("netlab: SetName on a closed lab")
	}
	for _, i := range hosts {
		if i < 0 || i >= len(l.Hosts) {
			return fmt.Errorf("netlab: SetName %s: no host %d", name, i)
		}
	}
	if l.names == nil {
		l.names = make(map[string][]int)
	}
	l.names[name] = slices.Clone(hosts)
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	names := make([]string, 0, len(l.names))
	for n := range l.names {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, i := range l.names[n] {
			fmt.Fprintf(&b, "%s %s\n", l.Hosts[i].IP, n)
		}
	}
	for _, h := range l.Hosts {
		dir := filepath.Join(netnsEtc, h.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("netlab: SetName: %w", err)
		}
		for file, content := range map[string]string{"hosts": b.String(), "resolv.conf": "nameserver 127.0.0.1\n"} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
				return fmt.Errorf("netlab: SetName: %w", err)
			}
		}
	}
	return nil
}

// removeNamesLocked deletes the per-host /etc files SetName wrote.
func (l *Lab) removeNamesLocked() error {
	if l.names == nil {
		return nil
	}
	var first error
	for _, h := range l.Hosts {
		if err := os.RemoveAll(filepath.Join(netnsEtc, h.Name)); err != nil && first == nil {
			first = fmt.Errorf("netlab: removing names: %w", err)
		}
	}
	return first
}
