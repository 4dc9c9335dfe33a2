package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// appProc is an app server process started by this command.
type appProc struct {
	name   string
	gossip string // "-" without a store node
	http   string // host:port
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
}

// startApps starts n app server processes from spec; with the sessring
// backend the first starts the cluster and the others join it, and the call
// returns once every node sees all n members with no partition pending.
func startApps(spec appSpec, n int) ([]*appProc, error) {
	var apps []*appProc
	for i := range n {
		s := spec
		s.Name = fmt.Sprintf("%s-%d", spec.Backend, i)
		if spec.Backend == backendSessring {
			port, err := freePort()
			if err != nil {
				stopApps(apps)
				return nil, err
			}
			s.Bind = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			if i > 0 {
				s.Join = []string{apps[0].gossip}
			}
		}
		a, err := startApp(s)
		if err != nil {
			stopApps(apps)
			return nil, err
		}
		apps = append(apps, a)
	}
	if spec.Backend == backendSessring {
		if err := waitSettled(apps, n, 30*time.Second); err != nil {
			stopApps(apps)
			return nil, err
		}
	}
	return apps, nil
}

func startApp(spec appSpec) (*appProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), appEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start app %s: %w", spec.Name, err)
	}
	a := &appProc{name: spec.Name, cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
		cmd.Wait() // the exit status of a killed app is expected
		close(a.exited)
	}()
	return a, a.awaitReady(line)
}

// awaitReady parses "READY <gossip> <http>"; anything else stops the app.
func (a *appProc) awaitReady(line <-chan string) error {
	select {
	case l := <-line:
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "READY" {
			a.gossip, a.http = f[1], f[2]
			return nil
		}
		a.kill()
		return fmt.Errorf("app %s: %q", a.name, l)
	case <-time.After(30 * time.Second):
		a.kill()
		return fmt.Errorf("app %s did not start within 30s", a.name)
	}
}

// kill sends SIGKILL, as a crash would, and waits for the process.
func (a *appProc) kill() {
	a.cmd.Process.Signal(syscall.SIGKILL) // fails only if it already exited
	<-a.exited
}

// stopApps ends every app. The clusters are throwaway, so there is nothing
// to hand over: SIGKILL keeps teardown fast and bounded.
func stopApps(apps []*appProc) {
	for _, a := range apps {
		a.stdin.Close()
		a.kill()
	}
}

// stats fetches /_stats, after a full GC when gc is set.
func (a *appProc) stats(gc bool) (appStats, error) {
	url := "http://" + a.http + "/_stats"
	if gc {
		url += "?gc=1"
	}
	var st appStats
	resp, err := probeClient.Get(url)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// get fetches a probe path and returns the body.
func (a *appProc) get(path string) (string, error) {
	resp, err := probeClient.Get("http://" + a.http + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, resp.Status)
	}
	return string(b), err
}

// probeClient talks to the apps' /_ endpoints, outside the load balancer.
var probeClient = &http.Client{Timeout: 2 * time.Minute}

// waitSettled polls until every app's node sees members members and has
// pulled its partitions.
func waitSettled(apps []*appProc, members int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		settled := true
		for _, a := range apps {
			st, err := a.stats(false)
			if err != nil || st.Members != members || st.Pending != 0 {
				settled = false
				break
			}
		}
		if settled {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster of %d did not settle within %v", members, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
