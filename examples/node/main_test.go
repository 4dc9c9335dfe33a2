package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
)

// The tests run nodes as real processes: this test binary re-executed with
// nodeEnv set runs main's code instead of the tests.
const nodeEnv = "SESSRING_EXAMPLE_NODE_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// proc is one node process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	url    string
	gossip string
	done   chan struct{} // closed when the process exited
}

// testKeyHex is the cluster key of the nodes these tests start.
const testKeyHex = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"

// startNode starts a node process and waits for its state line (joining
// or ready, as want says). Its log goes to a file shown if the test fails.
func startNode(t *testing.T, want, name string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-name", name, "-http", "127.0.0.1:0", "-bind", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), nodeEnv+"=1", demo.KeyEnv+"="+testKeyHex)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("log of node %s:\n%s", name, b)
		}
	})
	states := make(chan demo.State, 2)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if st, ok := demo.ParseState(s.Text()); ok {
				states <- st
			}
		}
	}()
	deadline := time.After(40 * time.Second)
	for {
		select {
		case st := <-states:
			p.url, p.gossip = st.URL, st.Gossip
			if st.State == want {
				return p
			}
		case <-p.done:
			t.Fatalf("node %s exited before %s: %v", name, want, cmd.ProcessState)
		case <-deadline:
			t.Fatalf("node %s not %s after 40s", name, want)
		}
	}
}

// apiResult is one HTTP exchange with a node.
type apiResult struct {
	code   int
	body   []byte
	cookie *http.Cookie // the session cookie set by the response, if any
}

var client = &http.Client{Timeout: 15 * time.Second}

func call(t *testing.T, method, url string, cookie *http.Cookie) apiResult {
	t.Helper()
	r, err := tryCall(method, url, cookie)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func tryCall(method, url string, cookie *http.Cookie) (apiResult, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return apiResult{}, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := apiResult{code: resp.StatusCode, body: body}
	for _, c := range resp.Cookies() {
		if c.Name == "sessring" {
			r.cookie = c
		}
	}
	return r, err
}

var shortIDRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// sessionDoc checks r is a session document with exactly the contract's
// fields and returns it.
func sessionDoc(t *testing.T, r apiResult) map[string]any {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.code, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if got, want := sortedKeys(m), []string{"count", "owner", "replica", "served_by", "session"}; !slices.Equal(got, want) {
		t.Fatalf("fields %v, want exactly %v (body %s)", got, want, r.body)
	}
	if id, _ := m["session"].(string); !shortIDRE.MatchString(id) {
		t.Errorf("session %q is not 12 hex digits", m["session"])
	}
	if _, ok := m["count"].(float64); !ok {
		t.Errorf("count %v is not a number", m["count"])
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// clusterDoc decodes /api/cluster, checking its exact shape.
type clusterDoc struct {
	Self    string `json:"self"`
	Members []struct {
		Name     string `json:"name"`
		Owned    *int   `json:"owned"`
		Replicas *int   `json:"replicas"`
	} `json:"members"`
}

func getCluster(url string) (clusterDoc, string, error) {
	r, err := tryCall("GET", url+"/api/cluster", nil)
	if err != nil {
		return clusterDoc{}, "", err
	}
	var d clusterDoc
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if r.code != http.StatusOK {
		return d, string(r.body), fmt.Errorf("status %d", r.code)
	}
	return d, string(r.body), dec.Decode(&d)
}
