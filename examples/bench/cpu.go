package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU accounting: a row's cost is the CPU time the operating system charged
// to every process the row uses (app servers, this process as balancer and
// load generator, and the memcached or Redis server of its row), read from
// /proc/<pid>/stat, so it counts what a user pays for whatever the scheduler
// did with the two cores.

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for every architecture's /proc interface.
const userHZ = 100

// cpuTime is the user+system CPU time process pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, field := range f[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// syscalls is the number of read/write-family system calls process pid has
// made so far: syscr+syscw from /proc/<pid>/io, which count read, write,
// readv, writev, pread and pwrite (failed non-blocking reads included) but
// not sendmsg, recvmsg, sendto or recvfrom. Go's TCP and TLS connections
// use the counted ones; memcached replies with sendmsg, so its count is
// short of its real system calls. Counted per operation they show how well
// requests and replies share system calls. ok=false when the file cannot
// be read (it needs the same user, or ptrace access).
func syscalls(pid int) (n uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, false
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k != "syscr" && k != "syscw" {
			continue
		}
		c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, false
		}
		n += c
		found++
	}
	return n, found == 2
}

// cpuSet is the processes a row uses, by role.
type cpuSet struct {
	roles []string
	pids  [][]int
}

func (s *cpuSet) add(role string, pids ...int) {
	s.roles = append(s.roles, role)
	s.pids = append(s.pids, pids)
}

// sample reads every process's CPU time and system calls so far, per
// role; calls is nil when some process's count cannot be read.
func (s *cpuSet) sample() (cpu []time.Duration, calls []uint64, err error) {
	cpu = make([]time.Duration, len(s.roles))
	calls = make([]uint64, len(s.roles))
	for i, pids := range s.pids {
		for _, pid := range pids {
			t, err := cpuTime(pid)
			if err != nil {
				return nil, nil, err
			}
			cpu[i] += t
			n, ok := syscalls(pid)
			if !ok {
				calls = nil
			}
			if calls != nil {
				calls[i] += n
			}
		}
	}
	return cpu, calls, nil
}

// cpuUse is the CPU a run used, per role, and in total.
type cpuUse struct {
	roles []string
	used  []time.Duration
	calls []uint64 // read/write-family system calls per role (see syscalls); nil: unknown
}

func (c *cpuUse) total() time.Duration {
	var t time.Duration
	for _, u := range c.used {
		t += u
	}
	return t
}

// perRequest is the total CPU time divided by n requests.
func (c *cpuUse) perRequest(n int) time.Duration {
	if c == nil || n <= 0 {
		return 0
	}
	return c.total() / time.Duration(n)
}

// text lists the CPU per request of each role: "apps 80µs, LB+load 40µs".
func (c *cpuUse) text(n int) string {
	if c == nil || n <= 0 {
		return ""
	}
	var parts []string
	for i, r := range c.roles {
		parts = append(parts, fmt.Sprintf("%s %s", r, dur(c.used[i]/time.Duration(n))))
	}
	return strings.Join(parts, ", ")
}

// callsText lists the read/write-family system calls per request of each
// role: "this process 1.2, nodes 0.9"; "" when unknown.
func (c *cpuUse) callsText(n int) string {
	if c == nil || n <= 0 || c.calls == nil {
		return ""
	}
	var parts []string
	for i, r := range c.roles {
		parts = append(parts, fmt.Sprintf("%s %.2f", r, float64(c.calls[i])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// measureCPU runs f and reports the CPU time each role of s used meanwhile.
func measureCPU(s *cpuSet, f func()) (*cpuUse, error) {
	before, callsBefore, err := s.sample()
	if err != nil {
		return nil, err
	}
	f()
	after, callsAfter, err := s.sample()
	if err != nil {
		return nil, err
	}
	u := &cpuUse{roles: s.roles, used: make([]time.Duration, len(after))}
	for i := range after {
		u.used[i] = after[i] - before[i]
	}
	if callsBefore != nil && callsAfter != nil {
		u.calls = make([]uint64, len(callsAfter))
		for i := range callsAfter {
			u.calls[i] = callsAfter[i] - callsBefore[i]
		}
	}
	return u, nil
}
