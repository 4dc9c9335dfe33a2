package main

import (
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
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
		Role   string `json:"role"`
	} `json:"members"`
	Search string `json:"search"` // location.search
	// The picture: each card's member and state, and the events listed.
	Cards  map[string]string `json:"cards"`
	Events []string          `json:"events"` // data-kind of each, newest first
	Drawn  int               `json:"drawn"`
}

const readPage = `(() => {
	const t = id => { const e = document.getElementById(id); return e ? e.textContent.trim() : "" };
	return {
		title: document.title, session: t("session"), count: t("count"), servedBy: t("served-by"),
		owner: t("owner"), replica: t("replica"), msg: t("msg"),
		text: document.body ? document.body.innerText.slice(0, 400) : "",
		members: [...document.querySelectorAll("#members tr[data-node]")].map(r => ({name: r.dataset.node, member: !r.classList.contains("down"),
			role: r.children[3] ? r.children[3].textContent.trim() : ""})),
		search: location.search,
		cards: Object.fromEntries([...document.querySelectorAll("#cluster [data-member]")].map(g => [g.dataset.member, g.dataset.state])),
		events: [...document.querySelectorAll("#events li")].map(li => li.dataset.kind),
		drawn: window.__statusDrawn || 0,
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

// reload reloads the page as the browser's reload button does.
func (b *browser) reload(t *testing.T) {
	t.Helper()
	b.markPage(t)
	if err := b.eval(`location.reload()`, nil); err != nil {
		t.Fatalf("reload: %v", err)
	}
	b.waitNewPage(t, "the reloaded page")
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
	testkit.SkipShort(t, "starts Chromium and node processes")
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

	// The picture: three live members, the session's owner and replica
	// highlighted.
	if len(p.Cards) != 3 || p.Drawn < 1 {
		t.Errorf("picture before the crash: cards %v, drawn %d times; want 3 alive members", p.Cards, p.Drawn)
	}
	img := br.screenshot(t, "demo-before-crash")
	checkPicture(t, img, br, "#cluster", map[string]color.RGBA{"green": green, "blue": blue, "purple": purple, "gold": gold}, 150)

	victim := p.ServedBy
	crashed := time.Now()
	br.click(t, "#crash")
	p = br.page(t)
	t.Logf("crashed %s; the next page came from %s after %v", victim, p.ServedBy, time.Since(crashed))
	if !strings.Contains(p.Msg, victim+" was killed with SIGKILL") {
		t.Errorf("notice after crash = %q, want it to say %s was killed", p.Msg, victim)
	}
	for _, m := range p.Members {
		if m.Name != victim && m.Member && strings.Contains(m.Role, "did not answer") {
			t.Errorf("right after the crash, live member %s is shown as %q", m.Name, m.Role)
		}
	}
	if p.Search != "" {
		t.Errorf("the address still carries the notice (%q): a reload would show it again", p.Search)
	}
	br.reload(t)
	if p = br.page(t); p.Msg != "" {
		t.Errorf("after a reload the notice %q is shown again", p.Msg)
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
	// The picture shows the failure: the victim's card, and on the
	// timeline when it was detected and when its sessions were served
	// again.
	refreshUntil(t, br, c.url, victim+" drawn as failed, and the survivors caught up", func(p pageState) bool {
		return p.Cards[victim] == "failed" && slices.Contains(p.Events, "failed") && slices.Contains(p.Events, "caught_up")
	})
	img = br.screenshot(t, "demo-after-crash")
	checkPicture(t, img, br, "#cluster", map[string]color.RGBA{"green": green, "red": red, "gold": gold}, 150)
	checkPicture(t, img, br, "#timeline", map[string]color.RGBA{"red": red}, 40)

	// /status draws the same picture, for operators.
	br.navigate(t, c.url+"/status")
	var cards int
	if err := br.eval(`document.querySelectorAll("#cluster [data-member]").length`, &cards); err != nil || cards != 3 {
		t.Errorf("/status draws %d member cards (%v), want 3", cards, err)
	}
	img = br.screenshot(t, "status-after-crash")
	checkPicture(t, img, br, "#cluster", map[string]color.RGBA{"green": green, "red": red, "blue": blue}, 150)
	br.navigate(t, c.url)

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
