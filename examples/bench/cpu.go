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

// cpuSet is the processes a row uses, by role.
type cpuSet struct {
	roles []string
	pids  [][]int
}

func (s *cpuSet) add(role string, pids ...int) {
	s.roles = append(s.roles, role)
	s.pids = append(s.pids, pids)
}

// sample reads every process's CPU time so far, per role.
func (s *cpuSet) sample() ([]time.Duration, error) {
	out := make([]time.Duration, len(s.roles))
	for i, pids := range s.pids {
		for _, pid := range pids {
			t, err := cpuTime(pid)
			if err != nil {
				return nil, err
			}
			out[i] += t
		}
	}
	return out, nil
}

// cpuUse is the CPU a run used, per role, and in total.
type cpuUse struct {
	roles []string
	used  []time.Duration
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

// measureCPU runs f and reports the CPU time each role of s used meanwhile.
func measureCPU(s *cpuSet, f func()) (*cpuUse, error) {
	before, err := s.sample()
	if err != nil {
		return nil, err
	}
	f()
	after, err := s.sample()
	if err != nil {
		return nil, err
	}
	u := &cpuUse{roles: s.roles, used: make([]time.Duration, len(after))}
	for i := range after {
		u.used[i] = after[i] - before[i]
	}
	return u, nil
}
