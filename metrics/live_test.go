package metrics_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// TestLiveNode scrapes a real node (loopback), Manager and memcached after
// real requests, and checks the scrape against their Stats.
func TestLiveNode(t *testing.T) {
	mcd := memcachedtest.Start(t)
	mc, err := backup.New(backup.Config{Servers: []string{mcd.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	quiet := slog.New(slog.DiscardHandler)
	rec := metrics.NewRecorder()
	cfg := store.DefaultConfig()
	cfg.Name, cfg.Backup, cfg.BackupDelay, cfg.Logger, cfg.Observer = "live", mc, 20*time.Millisecond, quiet, rec
	cfg.SecretKey = storetest.Key()
	node, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	mcfg := middleware.DefaultConfig()
	mcfg.Logger, mcfg.Observer = quiet, rec
	sessions, err := middleware.New(node, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		s.Put("n", s.GetInt("n")+1)
	})))
	defer app.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	const requests = 5
	for range requests {
		resp, err := client.Get(app.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	testkit.EventuallyWhy(t, 10*time.Second, "write-behind queue empty", func() (bool, string) {
		s := node.Stats().Backup
		return s.Pending == 0, fmt.Sprintf("%+v", s)
	})

	src := metrics.Sources{Node: node, Sessions: sessions, Memcached: mc, Recorder: rec}
	got, reg := scrape(t, src)
	srv := httptest.NewServer(promhttpHandler(reg))
	defer srv.Close()
	if body := get(t, srv.URL); !strings.Contains(body, `sessring_store_write_seconds_bucket{node="live",path="local",le="+Inf"} `+strconv.Itoa(requests)+"\n") {
		t.Errorf("/metrics lacks the write histogram of %d local writes:\n%s", requests, body)
	}

	// The node is idle now, so a snapshot taken after the scrape must give
	// the same series.
	again, _ := scrape(t, metrics.Sources{
		Node: fakeNode(node.Stats()), Sessions: fakeSessions(sessions.Stats()), Memcached: fakeMemcached(mc.Stats()), Recorder: rec,
	})
	sameSeries(t, got, again)

	for key, want := range map[string]float64{
		`sessring_store_sessions{node="live",role="owner"}`: 1,
		`sessring_store_members{node="live"}`:               1,
		`sessring_store_writes_total{node="live"}`:          requests,
		`sessring_sessions_requests_total`:                  requests,
		`sessring_sessions_created_total`:                   1,
		`sessring_sessions_saves_total`:                     requests - 1,
		`sessring_memcached_server_up{addr="` + mcd.Addr + `",failover="false",server="` + mcd.Addr + `"}`: 1,
		`sessring_sessions_save_seconds_count`:                        requests,
		`sessring_sessions_load_seconds_count`:                        requests - 1,
		`sessring_store_read_seconds_count{node="live",path="local"}`: requests - 1,
	} {
		if g := got[key]; g != want {
			t.Errorf("%s = %v, want %v", key, g, want)
		}
	}
	if w, p := got[`sessring_store_backup_written_total{node="live"}`], got["sessring_memcached_puts_total"]; w < 1 || p < w {
		t.Errorf("backup written %v, memcached puts %v: want at least one write, each a put", w, p)
	}
}
