//go:build linux

package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/peertls"
)

// childEnv makes the test binary a server process for
// BenchmarkCrossProcess instead of running tests.
const childEnv = "SESSRING_RPC_BENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runBenchChild())
	}
	os.Exit(m.Run())
}

// runBenchChild serves a raw echo, an rpc echo (FastHandler) in plaintext
// and one with mutual TLS on loopback, prints their addresses and serves
// until its stdin closes. The raw echo also answers rpc request frames, as
// a server would but with no rpc code, so the rpc client can be timed
// against it alone.
func runBenchChild() int {
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		return l
	}
	raw := listen()
	go func() {
		for {
			nc, err := raw.Accept()
			if err != nil {
				return
			}
			go serveRawEcho(nc)
		}
	}()
	tcfg, err := peertls.FromSecret(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	var addrs []string
	for _, cfg := range []Config{{}, {TLS: tcfg}} {
		s, err := NewServer(cfg, &fastEchoHandler{})
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		l := listen()
		go s.Serve(l)
		defer s.Close()
		addrs = append(addrs, l.Addr().String())
	}
	fmt.Println("ready", raw.Addr(), addrs[0], addrs[1])
	io.Copy(io.Discard, os.Stdin) // until the parent closes it or dies
	return 0
}

// BenchmarkCrossProcess times one 1 KiB round trip to another process, one
// caller, in alternating rounds so that every kind sees the same machine
// state: a raw length-prefixed echo written in Go (the floor for a Go
// server), the rpc layer's echo (plaintext and mutual TLS), each half of the
// rpc layer against the raw other half, and a memcached get of a 1 KiB value
// through gomemcache. It prints p50 and p99 per kind and the ratios; it
// asserts nothing. (The store's remote Find adds the store's own work at
// both ends: go run ./examples/bench -only store.)
//
//	go test -run '^$' -bench CrossProcess ./internal/rpc/
func BenchmarkCrossProcess(b *testing.B) {
	mc := memcachedtest.Start(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cctx, kill := context.WithCancel(context.Background())
	cmd := exec.CommandContext(cctx, exe)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // asks the child to leave
		t := time.AfterFunc(5*time.Second, kill)
		cmd.Wait()
		t.Stop()
		kill()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(30 * time.Second):
		b.Fatal("child not ready within 30s")
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ready" {
		b.Fatalf("child: %q", line)
	}
	rawAddr, plainAddr, tlsAddr := f[1], f[2], f[3]

	const size = 1 << 10
	body := make([]byte, size)
	ctx := context.Background()
	plain := newClient(b, tcpNet{}, Config{})
	tcfg, err := peertls.FromSecret(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	secure := newClient(b, tcpNet{}, Config{TLS: tcfg})
	nc, err := net.Dial("tcp", rawAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msg := binary.BigEndian.AppendUint32(nil, size)
	msg = append(msg, body...)
	reply := make([]byte, len(msg))
	nc2, err := net.Dial("tcp", plainAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc2.Close()
	frame := rawFrame(header{kind: kindRequest, method: opEcho, id: 1}, body)
	freply := make([]byte, len(frame))
	mcc := memcache.New(mc.Addr)
	mcc.Timeout = time.Second
	if err := mcc.Set(&memcache.Item{Key: "k", Value: body}); err != nil {
		b.Fatal(err)
	}

	kinds := []struct {
		name string
		op   func() error
	}{
		{"go raw echo", func() error {
			if _, err := nc.Write(msg); err != nil {
				return err
			}
			_, err := io.ReadFull(nc, reply)
			return err
		}},
		{"rpc echo, plain", func() error { _, err := plain.Call(ctx, plainAddr, opEcho, body); return err }},
		{"rpc client, raw server", func() error { _, err := plain.Call(ctx, rawAddr, opEcho, body); return err }},
		{"raw client, rpc server", func() error {
			if _, err := nc2.Write(frame); err != nil {
				return err
			}
			_, err := io.ReadFull(nc2, freply)
			return err
		}},
		{"rpc echo, mutual TLS", func() error { _, err := secure.Call(ctx, tlsAddr, opEcho, body); return err }},
		{"memcached get", func() error { _, err := mcc.Get("k"); return err }},
	}
	lat := make([][]time.Duration, len(kinds))
	// CPU time each kind costs this process and the child (user + system,
	// all threads): where the time goes, not just how long a call waits.
	cpuHere, cpuChild := make([]time.Duration, len(kinds)), make([]time.Duration, len(kinds))
	const rounds, perRound = 20, 250
	for round := -1; round < rounds; round++ { // round -1 warms up
		for k, kind := range kinds {
			here0, child0 := selfCPU(), procCPU(cmd.Process.Pid)
			for range perRound {
				t0 := time.Now()
				if err := kind.op(); err != nil {
					b.Fatalf("%s: %v", kind.name, err)
				}
				if round >= 0 {
					lat[k] = append(lat[k], time.Since(t0))
				}
			}
			if round >= 0 {
				cpuHere[k] += selfCPU() - here0
				cpuChild[k] += procCPU(cmd.Process.Pid) - child0
			}
		}
	}
	for b.Loop() { // the figures above are the result; keep b.N honest
		if err := kinds[1].op(); err != nil {
			b.Fatal(err)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\none 1 KiB round trip to another process, one caller, %d alternating rounds of %d\n", rounds, perRound)
	fmt.Fprintf(&sb, "%-22s %9s %9s %12s %12s %11s %11s\n", "kind", "p50", "p99", "vs memcached", "vs raw echo", "caller CPU", "server CPU")
	p := func(k int, q float64) time.Duration {
		s := slices.Clone(lat[k])
		slices.Sort(s)
		return s[int(q*float64(len(s)-1))]
	}
	mcP50, rawP50 := p(len(kinds)-1, 0.5), p(0, 0.5)
	for k, kind := range kinds {
		p50 := p(k, 0.5)
		server := "-" // memcached's is not measured
		if k < len(kinds)-1 {
			server = (cpuChild[k] / (rounds * perRound)).Round(100 * time.Nanosecond).String()
		}
		fmt.Fprintf(&sb, "%-22s %9v %9v %11.2fx %11.2fx %11v %11s\n", kind.name, p50.Round(100*time.Nanosecond),
			p(k, 0.99).Round(100*time.Nanosecond), float64(p50)/float64(mcP50), float64(p50)/float64(rawP50),
			(cpuHere[k] / (rounds * perRound)).Round(100*time.Nanosecond), server)
	}
	b.Log(sb.String())
	fmt.Print(sb.String())
}

// selfCPU is the CPU time this process's threads have run.
func selfCPU() time.Duration { return procCPU(os.Getpid()) }

// procCPU is the CPU time process pid's threads have run, in nanoseconds
// from /proc/<pid>/task/*/schedstat (its first field); threads that have
// exited are not counted.
func procCPU(pid int) time.Duration {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var ns int64
		if _, err := fmt.Sscan(string(b), &ns); err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}
