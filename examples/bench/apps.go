package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

// appProc is an app server process started by this command.
type appProc struct {
	name   string
	gossip string // "-" without a store node
	http   string // host:port
	child  *proc.Child
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

// startApp starts an app server process and parses its first line,
// "READY <gossip> <http>"; anything else stops the app.
func startApp(spec appSpec) (*appProc, error) {
	raw, _ := json.Marshal(spec)
	cmd, err := proc.Self(appEnv + "=" + string(raw))
	if err != nil {
		return nil, err
	}
	a := &appProc{name: spec.Name}
	a.child, err = proc.Start(cmd, 30*time.Second, proc.Expect("READY", &a.gossip, &a.http))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", spec.Name, err)
	}
	return a, nil
}

// stopApps ends every app. The clusters are throwaway, so there is nothing
// to hand over: SIGKILL keeps teardown fast and bounded.
func stopApps(apps []*appProc) {
	for _, a := range apps {
		a.child.Stop(0)
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
