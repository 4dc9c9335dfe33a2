package netlab

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Partition splits the hosts into groups (by index into Hosts) that cannot
// hear each other: every packet from a host of another group is dropped on
// arrival. Hosts in no group keep hearing everyone. It replaces any fault
// in force.
func (l *Lab) Partition(groups ...[]int) error {
	group := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(l.Hosts) {
				return fmt.Errorf("netlab: partition: no host %d", i)
			}
			group[i] = g + 1
		}
	}
	rules := make([][]string, len(l.Hosts))
	for i := range l.Hosts {
		for j := range l.Hosts {
			if gi, gj := group[i], group[j]; gi != 0 && gj != 0 && gi != gj {
				rules[i] = append(rules[i], dropFrom(l.Hosts[j])...)
			}
		}
	}
	return l.apply(rules)
}

// Cut drops every packet from host from to host to, while to's packets
// still reach from: a one-way cut. (New TCP connections then fail both ways,
// since the handshake needs both directions.) It replaces any fault in force.
func (l *Lab) Cut(from, to int) error {
	if from < 0 || from >= len(l.Hosts) || to < 0 || to >= len(l.Hosts) || from == to {
		return fmt.Errorf("netlab: cut %d -> %d: bad hosts", from, to)
	}
	rules := make([][]string, len(l.Hosts))
	rules[to] = dropFrom(l.Hosts[from])
	return l.apply(rules)
}

// Loss drops percent (1 to 100) of the packets between hosts at random, on
// arrival at every host (nftables numgen random). Traffic from the test
// (Gateway) is not dropped. It replaces any fault in force.
func (l *Lab) Loss(percent int) error {
	if percent < 1 || percent > 100 {
		return fmt.Errorf("netlab: loss %d%%: want 1 to 100", percent)
	}
	chance := fmt.Sprintf("numgen random mod 100 < %d ", percent)
	if percent == 100 {
		chance = "" // nft's range for the comparison ends at 99
	}
	rules := make([][]string, len(l.Hosts))
	for i := range l.Hosts {
		rules[i] = []string{
			fmt.Sprintf("ip saddr != %s %sdrop", l.Gateway, chance),
			fmt.Sprintf("ip6 saddr != %s %sdrop", l.Gateway6, chance),
		}
	}
	return l.apply(rules)
}

// Heal removes every network fault.
func (l *Lab) Heal() error {
	return l.apply(make([][]string, len(l.Hosts)))
}

func dropFrom(h *Host) []string {
	return []string{"ip saddr " + h.IP.String() + " drop", "ip6 saddr " + h.IP6.String() + " drop"}
}

// apply replaces every host's fault rules with rules[i], each host in one
// nft transaction.
func (l *Lab) apply(rules [][]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("netlab: lab closed")
	}
	for i, h := range l.Hosts {
		var b strings.Builder
		b.WriteString("flush chain inet sessring input\n")
		for _, r := range rules[i] {
			fmt.Fprintf(&b, "add rule inet sessring input %s\n", r)
		}
		if err := nft(h, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// nft runs an nft script inside h.
func nft(h *Host, script string) error {
	cmd := exec.Command("ip", "netns", "exec", h.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: nft in %s: %w: %s\n%s", h.Name, err, bytes.TrimSpace(out), script)
	}
	return nil
}

// Rules returns the fault rules in force on host i, as nft lists them (for
// a test's failure message).
func (l *Lab) Rules(i int) string {
	out, _ := exec.Command("ip", "netns", "exec", l.Hosts[i].Name, "nft", "list", "chain", "inet", "sessring", "input").CombinedOutput()
	return string(out)
}
