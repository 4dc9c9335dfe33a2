package demo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

func TestShortID(t *testing.T) {
	tok := "k2Vq3zVb1H8yQ0lJgq6m7V9m0J2oWcF4s8Xn5rT1yA0"
	sum := sha256.Sum256([]byte(tok))
	if got, want := ShortID(tok), hex.EncodeToString(sum[:])[:12]; got != want {
		t.Errorf("ShortID(%q) = %q, want %q", tok, got, want)
	}
}

func TestStateLineRoundTrip(t *testing.T) {
	s := State{Name: "n1", State: StateReady, URL: "http://127.0.0.1:8081", Gossip: "127.0.0.1:7946"}
	got, ok := ParseState(s.String())
	if !ok || got != s {
		t.Errorf("ParseState(%q) = %+v, %v; want %+v", s.String(), got, ok, s)
	}
	for _, line := range []string{"", "hello", "node n1 ready http=x gossip=y", "node n1 ready: url=x gossip=y", "node n1 ready: http=x addr=y"} {
		if _, ok := ParseState(line); ok {
			t.Errorf("ParseState(%q) accepted a line that is not a state line", line)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Setenv(KeyEnv, "")
	for _, tc := range []struct {
		name    string
		args    []string
		want    Options
		invalid bool
	}{
		{"defaults need a key", nil, Options{}, true},
		{"insecure", []string{"-insecure"}, Options{HTTPAddr: "127.0.0.1:8081", BindAddr: "127.0.0.1:7946", Locking: middleware.LockAuto, Insecure: true}, false},
		{"lists", []string{"-insecure", "-join", " 127.0.0.1:1, ,127.0.0.1:2", "-memcached", "m:11211"},
			Options{HTTPAddr: "127.0.0.1:8081", BindAddr: "127.0.0.1:7946", Join: []string{"127.0.0.1:1", "127.0.0.1:2"}, Memcached: []string{"m:11211"}, Locking: middleware.LockAuto, Insecure: true}, false},
		{"key", []string{"-key", strings.Repeat("ab", 16)},
			Options{HTTPAddr: "127.0.0.1:8081", BindAddr: "127.0.0.1:7946", Key: []byte(strings.Repeat("\xab", 16)), Locking: middleware.LockAuto}, false},
		{"locking exclusive", []string{"-insecure", "-locking", "exclusive"}, Options{HTTPAddr: "127.0.0.1:8081", BindAddr: "127.0.0.1:7946", Locking: middleware.LockExclusive, Insecure: true}, false},
		{"locking none", []string{"-insecure", "-locking", "none"}, Options{HTTPAddr: "127.0.0.1:8081", BindAddr: "127.0.0.1:7946", Locking: middleware.LockNone, Insecure: true}, false},
		{"short key", []string{"-key", "abcd"}, Options{}, true},
		{"bad bind", []string{"-insecure", "-bind", "7946"}, Options{}, true},
		{"advertise not an IP", []string{"-insecure", "-advertise", "pod-0"}, Options{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(t, tc.args)
			if tc.invalid {
				if err == nil {
					t.Errorf("Validate() = nil for %q, want an error", tc.args)
				}
				return
			}
			if err != nil || o.Name != tc.want.Name || o.HTTPAddr != tc.want.HTTPAddr || o.BindAddr != tc.want.BindAddr ||
				!slices.Equal(o.Join, tc.want.Join) || !slices.Equal(o.Memcached, tc.want.Memcached) || string(o.Key) != string(tc.want.Key) || o.Locking != tc.want.Locking {
				t.Errorf("flags %q gave %+v (Validate %v), want %+v", tc.args, o, err, tc.want)
			}
		})
	}
}

// TestKeyFromEnv: the key comes from $SESSRING_KEY when -key is not given
// (a flag is visible to every local user in the process list).
func TestKeyFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		args      []string
		want      []byte
		invalid   bool
	}{
		{"env", strings.Repeat("cd", 32), nil, bytes.Repeat([]byte{0xcd}, 32), false},
		{"flag wins", strings.Repeat("cd", 32), []string{"-key", strings.Repeat("ab", 16)}, bytes.Repeat([]byte{0xab}, 16), false},
		{"malformed env", "zz", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(KeyEnv, tc.env)
			o, err := parseOptions(t, tc.args)
			if tc.invalid != (err != nil) {
				t.Fatalf("Validate() = %v, want invalid=%v", err, tc.invalid)
			}
			if !tc.invalid && !bytes.Equal(o.Key, tc.want) {
				t.Errorf("Key = %x, want %x", o.Key, tc.want)
			}
		})
	}
}

func TestLockingFlagRejectsUnknown(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	if err := fs.Parse([]string{"-locking", "all"}); err == nil {
		t.Errorf("-locking all parsed as %v, want an error", o.Locking)
	}
}

func TestFreeGossipAddr(t *testing.T) {
	addr, err := freeGossipAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("TCP %s not free: %v", addr, err)
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP %s not free: %v", addr, err)
	}
	u.Close()
}

// TestRunOneNode runs a node in this process (under -race) through its
// life: joining line, API, the directory record kept out of the counts,
// and a graceful stop.
func TestRunOneNode(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Name: "solo", HTTPAddr: "127.0.0.1:0", BindAddr: "127.0.0.1:0", Key: bytes.Repeat([]byte{1}, 32), Locking: middleware.LockAuto, Out: pw, Logger: slog.New(slog.DiscardHandler)})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var ready State
	for ready.State != StateReady {
		if !lines.Scan() {
			t.Fatalf("Run ended before ready: %v", <-done)
		}
		ready, _ = ParseState(lines.Text())
	}
	go io.Copy(io.Discard, pr)

	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/readyz", "/livez", "/healthz"} {
		resp, err := client.Get(ready.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s of a ready node = %d, want 200", path, resp.StatusCode)
		}
	}
	resp, err := client.Post(ready.URL+"/api/incr", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var v sessionView
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if v.Count != 1 || v.ServedBy != "solo" || v.Owner != "solo" || v.Replica != "" {
		t.Errorf("POST /api/incr = %+v, want count 1 served and owned by solo, no replica", v)
	}

	// The directory record is written in the background. Once the store
	// holds it (two records owned: the session and the directory), the
	// counts must still show exactly the one session.
	testkit.Eventually(t, 10*time.Second, "directory record written", func() bool {
		return ownedRecords(t, client, ready.URL) == 2
	})
	resp, err = client.Get(ready.URL + "/api/cluster")
	if err != nil {
		t.Fatal(err)
	}
	var c clusterView
	json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if len(c.Members) != 1 || c.Members[0].Owned == nil || *c.Members[0].Owned != 1 || *c.Members[0].Replicas != 0 {
		t.Errorf("/api/cluster = %+v, want solo owning 1 session and no replica", c)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of cancel")
	}
}

// ownedRecords is the number of records the node holds as owner, from
// /status (which, unlike /api/cluster, counts the directory record).
func ownedRecords(t *testing.T, client *http.Client, url string) int {
	t.Helper()
	resp, err := client.Get(url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Copies struct {
			Owned int `json:"owned"`
		} `json:"copies"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Copies.Owned
}

// TestStatusStates: the picture's member states come from the live view,
// the latest event about each member, and the demo's own node list.
func TestStatusStates(t *testing.T) {
	one := 1
	now := time.Now()
	ev := func(ago time.Duration, kind, node, member string) metrics.EventStatus {
		return metrics.EventStatus{Time: now.Add(-ago), Kind: kind, Node: node, Member: member}
	}
	a := &app{name: "n1", controls: []string{"n1", "n2", "n3", "n4", "n5"}}
	c := clusterView{Self: "n1", Members: []memberView{
		{Name: "n1", Owned: &one, Replicas: &one, Events: []metrics.EventStatus{
			ev(time.Minute, "joined", "n1", "n3"), ev(30*time.Second, "failed", "n1", "n3"),
			ev(20*time.Second, "left", "n1", "n4"), ev(time.Hour, "failed", "n1", "n5"),
		}},
		{Name: "n2", Events: []metrics.EventStatus{ev(30*time.Second, "failed", "n2", "n3"), ev(time.Minute, "joined", "n1", "n3")}},
	}}
	st := a.status(c, nil)
	got := map[string]string{}
	for _, m := range st.Members {
		got[m.Name] = m.State
		if m.Name == "n2" && m.Answered {
			t.Errorf("n2 did not answer, yet is drawn as answered")
		}
	}
	want := map[string]string{"n1": stateAlive, "n2": stateAlive, "n3": stateFailed, "n4": stateLeft, "n5": stateDown}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	// n1's and n2's reports of the failure both stay; the join both sent
	// is listed once; the hour-old failure is out of the window.
	var kinds []string
	for _, e := range st.Events {
		kinds = append(kinds, e.Kind+" "+e.Node+" "+e.Member)
	}
	if w := []string{"joined n1 n3", "failed n1 n3", "failed n2 n3", "left n1 n4"}; !reflect.DeepEqual(kinds, w) {
		t.Errorf("events = %q, want %q", kinds, w)
	}
}

// TestLookupURLsKeepsLastCopy: when the directory cannot be read (right
// after a crash its record may sit on the dead node), the members' last
// known addresses are used rather than none.
func TestLookupURLsKeepsLastCopy(t *testing.T) {
	cfg := store.DefaultConfig()
	cfg.Name, cfg.Logger = "solo", slog.New(slog.DiscardHandler)
	cfg.SecretKey = storetest.Key()
	node, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if err := registerSelf(node, "solo", "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	a := &app{name: "solo", node: node}
	want := map[string]string{"solo": "http://127.0.0.1:1"}
	if got := a.lookupURLs(context.Background()); !reflect.DeepEqual(got, want) {
		t.Fatalf("lookupURLs = %v, want %v", got, want)
	}
	node.Close() // every read fails from now on
	if got := a.lookupURLs(context.Background()); !reflect.DeepEqual(got, want) {
		t.Errorf("lookupURLs with the directory unreadable = %v, want the last copy %v", got, want)
	}
}

// TestReadyz: /readyz follows store.Node.Ready and answers 503 as soon as
// the node is shutting down; /livez does not care.
func TestReadyz(t *testing.T) {
	cfg := store.DefaultConfig()
	cfg.Name, cfg.BindAddr, cfg.Logger = "solo", "127.0.0.1:0", slog.New(slog.DiscardHandler)
	cfg.SecretKey = storetest.Key()
	node, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	a := newApp(Options{Name: "solo", Logger: cfg.Logger}, "", node, nil, nil, nil)
	probe := func(h http.HandlerFunc) (int, string) {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := probe(a.readyz); code != http.StatusOK {
		t.Errorf("/readyz of a ready node = %d %s, want 200", code, body)
	}
	a.draining.Store(true)
	if code, body := probe(a.readyz); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while draining = %d %s, want 503 shutting down", code, body)
	}
	a.draining.Store(false)
	node.Close()
	if code, body := probe(a.readyz); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz after node.Close = %d %s, want 503 shutting down", code, body)
	}
	if code, body := probe(livez); code != http.StatusOK {
		t.Errorf("/livez = %d %s, want 200", code, body)
	}
}

// parseOptions registers Options on a new flag set, parses args and
// returns the options with Validate's error.
func parseOptions(t *testing.T, args []string) (Options, error) {
	t.Helper()
	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o, o.Validate()
}
