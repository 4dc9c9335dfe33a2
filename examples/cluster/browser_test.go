package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pageState is what a person sees on the demo page.
type pageState struct {
	Title    string `json:"title"`
	Session  string `json:"session"`
	Count    string `json:"count"`
	ServedBy string `json:"servedBy"`
	Owner    string `json:"owner"`
	Replica  string `json:"replica"`
	Msg      string `json:"msg"`
	Text     string `json:"text"`
	Members  []struct {
		Name   string `json:"name"`
		Member bool   `json:"member"`
	} `json:"members"`
}

const readPage = `(() => {
	const t = id => { const e = document.getElementById(id); return e ? e.textContent.trim() : "" };
	return {
		title: document.title, session: t("session"), count: t("count"), servedBy: t("served-by"),
		owner: t("owner"), replica: t("replica"), msg: t("msg"),
		text: document.body ? document.body.innerText.slice(0, 400) : "",
		members: [...document.querySelectorAll("#members tr[data-node]")].map(r => ({name: r.dataset.node, member: !r.classList.contains("down")})),
	};
})()`

func (b *browser) page(t *testing.T) pageState {
	t.Helper()
	var p pageState
	if err := b.eval(readPage, &p); err != nil {
		t.Fatalf("read page: %v", err)
	}
	return p
}

// listed reports whether the page is the demo page and lists name, and
// whether as a member (or as a stopped node).
func (p pageState) listed(name string) (listed, member bool) {
	if !strings.HasPrefix(p.Title, "sessring demo ·") {
		return false, false
	}
	for _, m := range p.Members {
		if m.Name == name {
			return true, m.Member
		}
	}
	return false, false
}

// startTestCluster runs the demo as `go run ./examples/cluster` would, on
// a free port, with this test binary as the node executable. The nodes'
// output goes to files shown if the test fails.
func startTestCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "nodes.log"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := startCluster(options{nodes: 3, listen: "127.0.0.1:0", stdout: out, stderr: logs})
	if err != nil {
		t.Fatalf("startCluster: %v", err)
	}
	t.Cleanup(func() {
		c.close()
		out.Close()
		logs.Close()
		if t.Failed() {
			for _, f := range []string{"stdout", "nodes.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("cluster %s:\n%s", f, b)
			}
		}
	})
	return c
}

var shortID = regexp.MustCompile(`^[0-9a-f]{12}$`)

// TestBrowserCrashDemo is what the README promises, done by a real browser:
// open the page, increment, crash the node that served it, refresh, and
// find the same session with its count; then start the node again.
func TestBrowserCrashDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and node processes")
	}
	br := startBrowser(t)
	start := time.Now()
	c := startTestCluster(t)
	t.Logf("cluster up in %v at %s", time.Since(start), c.url)

	br.navigate(t, c.url)
	p := br.page(t)
	if !strings.HasPrefix(p.Title, "sessring demo") || p.Session != "" || p.Count != "0" {
		t.Fatalf("first visit: %+v, want the demo page without a session", p)
	}
	br.click(t, "#incr")
	p = br.page(t)
	id := p.Session
	if !shortID.MatchString(id) || p.Count != "1" {
		t.Fatalf("after one click: session %q count %q, want 12 hex digits and 1", id, p.Count)
	}
	br.click(t, "#incr")
	p = br.page(t)
	if p.Session != id || p.Count != "2" {
		t.Fatalf("after two clicks: session %q count %q, want %s and 2", p.Session, p.Count, id)
	}

	victim := p.ServedBy
	crashed := time.Now()
	br.click(t, "#crash")
	p = br.page(t)
	t.Logf("crashed %s; the next page came from %s after %v", victim, p.ServedBy, time.Since(crashed))
	if !strings.Contains(p.Msg, victim+" was killed with SIGKILL") {
		t.Errorf("notice after crash = %q, want it to say %s was killed", p.Msg, victim)
	}
	if p.ServedBy == victim || p.Session != id || p.Count != "2" {
		t.Errorf("after the crash: served by %s, session %q, count %q; want another node, %s, 2", p.ServedBy, p.Session, p.Count, id)
	}
	for _, n := range c.sup.snapshot() {
		if n.Name == victim && n.Running {
			t.Errorf("%s's process still runs after the crash", victim)
		}
	}

	br.navigate(t, c.url) // refresh
	p = br.page(t)
	if p.ServedBy == victim || p.Session != id || p.Count != "2" {
		t.Errorf("refresh: served by %s, session %q, count %q; want another node, %s, 2", p.ServedBy, p.Session, p.Count, id)
	}
	br.click(t, "#incr")
	p = br.page(t)
	if p.Session != id || p.Count != "3" {
		t.Fatalf("increment after the crash: session %q count %q, want %s and 3", p.Session, p.Count, id)
	}

	// The survivors stop listing the victim; then start it again.
	refreshUntil(t, br, c.url, victim+" listed as not a member", func(p pageState) bool {
		listed, member := p.listed(victim)
		return listed && !member
	})
	br.click(t, `tr[data-node="`+victim+`"] button.start`)
	p = br.page(t)
	if !strings.Contains(p.Msg, victim+" started again") {
		t.Errorf("notice after start = %q, want it to say %s started again", p.Msg, victim)
	}
	refreshUntil(t, br, c.url, victim+" a member again", func(p pageState) bool {
		_, member := p.listed(victim)
		return member
	})
	refreshUntil(t, br, c.url, "a page served by the restarted "+victim, func(p pageState) bool { return p.ServedBy == victim })
	p = br.page(t)
	if p.Session != id || p.Count != "3" {
		t.Errorf("served by the restarted %s: session %q count %q, want %s and 3", victim, p.Session, p.Count, id)
	}

	stopping := time.Now()
	c.close()
	t.Logf("Ctrl-C equivalent: every node left in %v; whole test %v", time.Since(stopping), time.Since(start))
	for _, n := range c.sup.snapshot() {
		if n.Running {
			t.Errorf("%s still runs after close", n.Name)
		}
	}
}

// refreshUntil reloads the page until cond holds, for at most 20s.
func refreshUntil(t *testing.T, br *browser, url, what string, cond func(pageState) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		br.navigate(t, url)
		p := br.page(t)
		if cond(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 20s waiting for %s; page: %+v", what, p)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
