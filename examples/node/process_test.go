package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// TestCrashKeepsSessions runs three node processes on loopback, uses a
// session through each, SIGKILLs the session's owner and checks the API
// contract on the survivors: same session, no lost count, counts that move
// to the survivors.
func TestCrashKeepsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	start := time.Now()
	nodes := map[string]*proc{"a": startNode(t, demo.StateReady, "a")}
	for _, n := range []string{"b", "c"} {
		nodes[n] = startNode(t, demo.StateReady, n, "-join", nodes["a"].gossip)
	}
	for _, p := range nodes {
		waitSettled(t, p, 3)
	}
	for _, p := range nodes {
		if r := call(t, "GET", p.url+"/healthz", nil); r.code != http.StatusOK {
			t.Errorf("%s /healthz = %d %s, want 200", p.name, r.code, r.body)
		}
	}
	t.Logf("3 nodes up in %v", time.Since(start))

	// A new session through a, then used through b and c.
	r := call(t, "POST", nodes["a"].url+"/api/incr", nil)
	doc := sessionDoc(t, r)
	if r.cookie == nil {
		t.Fatalf("POST /api/incr without a cookie set none")
	}
	id := doc["session"].(string)
	if got, want := id, demo.ShortID(r.cookie.Value); got != want {
		t.Errorf("session = %q, want ShortID(cookie) = %q", got, want)
	}
	if strings.Contains(string(r.body), r.cookie.Value) {
		t.Errorf("the body reveals the token: %s", r.body)
	}
	checkDoc(t, doc, id, 1, "a")
	cookie := r.cookie
	checkDoc(t, sessionDoc(t, call(t, "POST", nodes["b"].url+"/api/incr", cookie)), id, 2, "b")
	doc = sessionDoc(t, call(t, "GET", nodes["c"].url+"/api/session", cookie))
	checkDoc(t, doc, id, 2, "c")

	for _, c := range []*http.Cookie{nil, {Name: "sessring", Value: "bm90LWEtcmVhbC10b2tlbi1idXQtd2VsbC1mb3JtZWQ"}} {
		if r := call(t, "GET", nodes["a"].url+"/api/session", c); r.code != http.StatusNotFound {
			t.Errorf("GET /api/session with cookie %v = %d %s, want 404", c, r.code, r.body)
		}
	}

	// Crash the owner.
	owner := nodes[doc["owner"].(string)]
	var survivors []*proc
	for _, n := range []string{"a", "b", "c"} {
		if nodes[n] != owner {
			survivors = append(survivors, nodes[n])
		}
	}
	if err := owner.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-owner.done
	crashed := time.Now()
	t.Logf("SIGKILLed %s, the session's owner", owner.name)

	doc = sessionDoc(t, call(t, "GET", survivors[0].url+"/api/session", cookie))
	checkDoc(t, doc, id, 2, survivors[0].name)
	t.Logf("session read back %v after the crash", time.Since(crashed))
	doc = sessionDoc(t, call(t, "POST", survivors[1].url+"/api/incr", cookie))
	checkDoc(t, doc, id, 3, survivors[1].name)
	t.Logf("session written %v after the crash", time.Since(crashed))
	testkit.EventuallyWhy(t, 20*time.Second, "owner and replica among the survivors", func() (bool, string) {
		r, err := tryCall("GET", survivors[0].url+"/api/session", cookie)
		if err != nil || r.code != http.StatusOK {
			return false, fmt.Sprint(r.code, err)
		}
		var m map[string]any
		json.Unmarshal(r.body, &m)
		return m["owner"] != owner.name && m["replica"] != owner.name && m["owner"] != m["replica"] && m["count"] == 3.0, string(r.body)
	})
	checkClusterAfterCrash(t, survivors, owner.name)
	if _, err := tryCall("GET", owner.url+"/healthz", nil); err == nil {
		t.Errorf("the killed node still answers /healthz")
	}
	checkMonitoring(t, survivors[0], owner.name)

	t.Logf("whole scenario took %v", time.Since(start))
}

// TestSIGTERMHandsOver: a node stopped with SIGTERM hands its sessions to
// the other and exits 0. (Two nodes: after a crash, the survivors count the
// lost member for LostMemberTTL, and a last node alone with it would be a
// minority and refuse.)
func TestSIGTERMHandsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startNode(t, demo.StateReady, "a")
	b := startNode(t, demo.StateReady, "b", "-join", a.gossip)
	for _, p := range []*proc{a, b} {
		waitSettled(t, p, 2)
	}
	r := call(t, "POST", b.url+"/api/incr", nil)
	doc := sessionDoc(t, r)
	id, cookie := doc["session"].(string), r.cookie
	leaving, staying := a, b
	if doc["owner"] == "b" {
		leaving, staying = b, a
	}
	if err := leaving.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leaving.done:
		if code := leaving.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0", leaving.name, code)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s still running 20s after SIGTERM", leaving.name)
	}
	doc = sessionDoc(t, call(t, "POST", staying.url+"/api/incr", cookie))
	checkDoc(t, doc, id, 2, staying.name)
	if doc["owner"] != staying.name || doc["replica"] != "" {
		t.Errorf("alone, %s reports owner %q replica %q; want itself and none", staying.name, doc["owner"], doc["replica"])
	}
}

// waitSettled waits until p sees members nodes and has finished pulling
// its partitions (/status repair_backlog 0).
func waitSettled(t *testing.T, p *proc, members int) {
	t.Helper()
	testkit.EventuallyWhy(t, 20*time.Second, p.name+" settled", func() (bool, string) {
		r, err := tryCall("GET", p.url+"/status", nil)
		if err != nil {
			return false, err.Error()
		}
		var st struct {
			Members       []string `json:"members"`
			RepairBacklog int      `json:"repair_backlog"`
		}
		json.Unmarshal(r.body, &st)
		return len(st.Members) == members && st.RepairBacklog == 0, string(r.body)
	})
}

// checkDoc checks a session document's values.
func checkDoc(t *testing.T, doc map[string]any, id string, count int, servedBy string) {
	t.Helper()
	if doc["session"] != id || doc["count"] != float64(count) || doc["served_by"] != servedBy {
		t.Errorf("got session %v count %v served_by %v; want %s, %d, %s", doc["session"], doc["count"], doc["served_by"], id, count, servedBy)
	}
	if doc["owner"] == "" || doc["owner"] == doc["replica"] {
		t.Errorf("owner %q, replica %q: want an owner and a different replica (or none)", doc["owner"], doc["replica"])
	}
}

// checkClusterAfterCrash waits until every survivor lists exactly the
// survivors, whose counts add up to one session owned and one replica.
func checkClusterAfterCrash(t *testing.T, survivors []*proc, dead string) {
	t.Helper()
	var want []string
	for _, p := range survivors {
		want = append(want, p.name)
	}
	slices.Sort(want)
	for _, p := range survivors {
		testkit.EventuallyWhy(t, 20*time.Second, p.name+"'s /api/cluster without "+dead, func() (bool, string) {
			d, body, err := getCluster(p.url)
			if err != nil || d.Self != p.name {
				return false, fmt.Sprint(body, err)
			}
			var names []string
			owned, replicas := 0, 0
			for _, m := range d.Members {
				names = append(names, m.Name)
				if m.Owned == nil || m.Replicas == nil {
					return false, body
				}
				owned, replicas = owned+*m.Owned, replicas+*m.Replicas
			}
			return slices.Equal(names, want) && owned == 1 && replicas == 1, body
		})
	}
}

// checkMonitoring checks /metrics and /status of a node that saw crashed
// fail.
func checkMonitoring(t *testing.T, p *proc, crashed string) {
	t.Helper()
	r := call(t, "GET", p.url+"/metrics", nil)
	for _, want := range []string{
		fmt.Sprintf("sessring_store_members{node=%q} 2\n", p.name),
		"sessring_sessions_requests_total ",
		fmt.Sprintf(`sessring_store_read_seconds_bucket{node=%q,path="local",le="+Inf"} `, p.name),
		fmt.Sprintf(`sessring_store_write_seconds_bucket{node=%q,path="forwarded",le="0.0001"} `, p.name),
		fmt.Sprintf(`sessring_store_replicate_seconds_count{node=%q} `, p.name),
		`sessring_sessions_load_seconds_bucket{le="0.0002"} `,
	} {
		if r.code != http.StatusOK || !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics = %d, want 200 with %q; got\n%s", r.code, want, r.body)
		}
	}
	r = call(t, "GET", p.url+"/status", nil)
	var st struct {
		Node    string   `json:"node"`
		Members []string `json:"members"`
		Events  []struct {
			Kind        string  `json:"kind"`
			Member      string  `json:"member"`
			TookSeconds float64 `json:"took_seconds"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil || st.Node != p.name || len(st.Members) != 2 {
		t.Errorf("/status = %d %s (%v), want node %s and 2 members", r.code, r.body, err, p.name)
	}
	failed := 0
	for _, e := range st.Events {
		if e.Kind == "failed" && e.Member == crashed && e.TookSeconds > 0 {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("/status events %+v: want %s failed once, with its detection time", st.Events, crashed)
	}
}

// TestHealthzWhileJoining: a node whose seed does not answer serves 503
// (/healthz, /readyz and the API) while it keeps trying to join, and is
// alive (/livez).
func TestHealthzWhileJoining(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadSeed := l.Addr().String()
	l.Close()
	p := startNode(t, demo.StateJoining, "lonely", "-join", deadSeed)
	for _, path := range []string{"/healthz", "/readyz", "/api/session", "/api/cluster"} {
		r := call(t, "GET", p.url+path, nil)
		if r.code != http.StatusServiceUnavailable || r.code == 0 {
			t.Errorf("GET %s while joining = %d %s, want 503", path, r.code, r.body)
		}
	}
	if r := call(t, "GET", p.url+"/livez", nil); r.code != http.StatusOK {
		t.Errorf("GET /livez while joining = %d %s, want 200", r.code, r.body)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"key not hex", []string{"-key", "zz"}, 2},
		{"key length", []string{"-key", "abcd"}, 1},
		{"http not host:port", []string{"-http", "8080"}, 1},
		{"stray argument", []string{"extra"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.args, io.Discard); got != tc.want {
				t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
