package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
	"github.com/e5b1d45c/sessring/store/metrics"
)

// Hand-written fakes: fixed snapshots.
type (
	fakeNode      store.Stats
	fakeSessions  middleware.Stats
	fakeMemcached backup.Stats
)

func (f fakeNode) Stats() store.Stats          { return store.Stats(f) }
func (f fakeSessions) Stats() middleware.Stats { return middleware.Stats(f) }
func (f fakeMemcached) Stats() backup.Stats    { return backup.Stats(f) }
func scrapeOf(t *testing.T, src ...metrics.Source) scrape {
	t.Helper()
	var buf bytes.Buffer
	if err := metrics.Write(&buf, src...); err != nil {
		t.Fatalf("Write = %v", err)
	}
	return mustParse(t, buf.String())
}

// numbered sets every integer and duration field reachable in *p (nested
// structs included) to a distinct value starting at next, so that a field
// reported under the wrong name cannot go unnoticed. It returns the next
// unused value.
func numbered(p any, next int) int {
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Int, reflect.Int64:
			if v.Type() == reflect.TypeOf(time.Duration(0)) {
				v.SetInt(int64(next) * int64(time.Millisecond))
			} else {
				v.SetInt(int64(next))
			}
			next++
		case reflect.Uint64:
			v.SetUint(uint64(next))
			next++
		}
	}
	walk(reflect.ValueOf(p).Elem())
	return next
}

// sameSeries fails t unless got holds exactly the series in want.
func sameSeries(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("series %s missing, want %v", k, w)
		} else if g != w {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %v", k, g)
		}
	}
}

func TestNodeMatchesStats(t *testing.T) {
	var s store.Stats
	numbered(&s, 1)
	s.Name, s.Members = "n1", []string{"n1", "n2", "n3"}
	sc := scrapeOf(t, metrics.Node(fakeNode(s)))
	n := `node="n1"`
	role := func(r string) string { return `{` + n + `,role="` + r + `"}` }
	sameSeries(t, sc.values, map[string]float64{
		"sessring_store_sessions" + role("owner"):              float64(s.OwnedSessions),
		"sessring_store_sessions" + role("replica"):            float64(s.ReplicaSessions),
		"sessring_store_sessions" + role("orphan"):             float64(s.OrphanSessions),
		"sessring_store_bytes" + role("owner"):                 float64(s.OwnedBytes),
		"sessring_store_bytes" + role("replica"):               float64(s.ReplicaBytes),
		"sessring_store_bytes" + role("orphan"):                float64(s.OrphanBytes),
		"sessring_store_bytes_held{" + n + "}":                 float64(s.BytesHeld),
		"sessring_store_partitions" + role("owner"):            float64(s.PartitionsOwned),
		"sessring_store_partitions" + role("replica"):          float64(s.PartitionsReplica),
		"sessring_store_partitions_pending{" + n + "}":         float64(s.PartitionsPending),
		"sessring_store_members{" + n + "}":                    3,
		"sessring_store_reads_total{" + n + "}":                float64(s.Reads),
		"sessring_store_writes_total{" + n + "}":               float64(s.Writes),
		"sessring_store_deletes_total{" + n + "}":              float64(s.Deletes),
		"sessring_store_requests_served_total{" + n + "}":      float64(s.Served),
		"sessring_store_requests_forwarded_total{" + n + "}":   float64(s.Forwarded),
		"sessring_store_retries_total{" + n + "}":              float64(s.Retries),
		"sessring_store_duplicate_writes_total{" + n + "}":     float64(s.DuplicateWrites),
		"sessring_store_resyncs_total{" + n + "}":              float64(s.Resyncs),
		"sessring_store_replicated_total{" + n + "}":           float64(s.Replicated),
		"sessring_store_replica_writes_total{" + n + "}":       float64(s.ReplicaWrites),
		"sessring_store_replication_errors_total{" + n + "}":   float64(s.ReplicationErrors),
		"sessring_store_repairs_total{" + n + "}":              float64(s.Repairs),
		"sessring_store_anti_entropy_repairs_total{" + n + "}": float64(s.AntiEntropyRepairs),
		"sessring_store_handoff_entries_total{" + n + "}":      float64(s.HandoffEntries),
		"sessring_store_partitions_pulled_total{" + n + "}":    float64(s.PartitionsPulled),
		"sessring_store_view_mismatches_total{" + n + "}":      float64(s.ViewMismatches),
		"sessring_store_expired_total{" + n + "}":              float64(s.Expired),
		"sessring_store_full_total{" + n + "}":                 float64(s.Full),
		"sessring_store_evicted_total{" + n + "}":              float64(s.Evicted),
		"sessring_store_backup_pending{" + n + "}":             float64(s.Backup.Pending),
		"sessring_store_backup_queued_total{" + n + "}":        float64(s.Backup.Queued),
		"sessring_store_backup_written_total{" + n + "}":       float64(s.Backup.Written),
		"sessring_store_backup_deleted_total{" + n + "}":       float64(s.Backup.Deleted),
		"sessring_store_backup_failed_total{" + n + "}":        float64(s.Backup.Failed),
		"sessring_store_backup_dropped_total{" + n + "}":       float64(s.Backup.Dropped),
		"sessring_store_backup_restored_total{" + n + "}":      float64(s.Backup.Restored),
		"sessring_store_backup_passivated_total{" + n + "}":    float64(s.Backup.Passivated),
		"sessring_store_backup_rehydrated_total{" + n + "}":    float64(s.Backup.Rehydrated),
	})
	if got, want := sc.types["sessring_store_sessions"], "gauge"; got != want {
		t.Errorf("type of sessring_store_sessions = %q, want %q", got, want)
	}
	if got, want := sc.types["sessring_store_reads_total"], "counter"; got != want {
		t.Errorf("type of sessring_store_reads_total = %q, want %q", got, want)
	}
}

// TestNodeCoversEveryCounter guards against a Stats field added later and
// forgotten here: every numeric field of store.Stats appears as a series.
func TestNodeCoversEveryCounter(t *testing.T) {
	var s store.Stats
	last := numbered(&s, 1000)
	s.Name = "n"
	values := map[float64]bool{}
	for _, v := range scrapeOf(t, metrics.Node(fakeNode(s))).values {
		values[v] = true
	}
	for v := 1000; v < last; v++ {
		if v == int(s.TableID) {
			continue // an identifier, reported by the status document
		}
		if !values[float64(v)] {
			t.Errorf("the store.Stats field set to %d is not reported", v)
		}
	}
}

func TestSessionsMatchStats(t *testing.T) {
	var s middleware.Stats
	last := numbered(&s, 1)
	sc := scrapeOf(t, metrics.Sessions(fakeSessions(s)))
	want := map[string]float64{
		"sessring_sessions_requests_total":          float64(s.Requests),
		"sessring_sessions_ignored_total":           float64(s.Ignored),
		"sessring_sessions_loads_total":             float64(s.Loads),
		"sessring_sessions_load_misses_total":       float64(s.LoadMisses),
		"sessring_sessions_bad_tokens_total":        float64(s.BadTokens),
		"sessring_sessions_created_total":           float64(s.Created),
		"sessring_sessions_saves_total":             float64(s.Saves),
		"sessring_sessions_skipped_unchanged_total": float64(s.SkippedUnchanged),
		"sessring_sessions_touches_total":           float64(s.Touches),
		"sessring_sessions_in_place_changes_total":  float64(s.InPlaceChanges),
		"sessring_sessions_decode_failures_total":   float64(s.DecodeFailures),
		"sessring_sessions_destroyed_total":         float64(s.Destroyed),
		"sessring_sessions_renewed_total":           float64(s.Renewed),
		"sessring_sessions_lock_acquired_total":     float64(s.LockAcquired),
		"sessring_sessions_lock_timeouts_total":     float64(s.LockTimeouts),
		"sessring_sessions_relocks_total":           float64(s.Relocks),
		"sessring_sessions_lock_auto_skipped_total": float64(s.LockAutoSkipped),
		"sessring_sessions_lock_auto_misses_total":  float64(s.LockAutoMisses),
		"sessring_sessions_late_writes_total":       float64(s.LateWrites),
		"sessring_sessions_vanished_total":          float64(s.Vanished),
		"sessring_sessions_detached_total":          float64(s.Detached),
		"sessring_sessions_too_large_total":         float64(s.TooLarge),
		"sessring_sessions_errors_total":            float64(s.Errors),
		"sessring_sessions_capped_total":            float64(s.Capped),
		"sessring_sessions_load_seconds_total":      s.LoadTime.Seconds(),
		"sessring_sessions_save_seconds_total":      s.SaveTime.Seconds(),
		"sessring_sessions_lock_wait_seconds_total": s.LockWaitTime.Seconds(),
	}
	sameSeries(t, sc.values, want)
	if got := len(want); got != last-1 {
		t.Errorf("middleware.Stats has %d numeric fields, the test expects %d: report the new ones", last-1, got)
	}
}

func TestMemcachedMatchesStats(t *testing.T) {
	var s backup.Stats
	last := numbered(&s, 1)
	s.Servers = []backup.ServerStats{
		{ID: "m1", Addr: "127.0.0.1:11211", Up: true, Failures: 7},
		{ID: "spare", Addr: "127.0.0.1:11212", Failover: true, Failures: 9},
	}
	sc := scrapeOf(t, metrics.Memcached(fakeMemcached(s)))
	m1 := `{server="m1",addr="127.0.0.1:11211",failover="false"}`
	spare := `{server="spare",addr="127.0.0.1:11212",failover="true"}`
	want := map[string]float64{
		"sessring_memcached_puts_total":                    float64(s.Puts),
		"sessring_memcached_gets_total":                    float64(s.Gets),
		"sessring_memcached_hits_total":                    float64(s.Hits),
		"sessring_memcached_misses_total":                  float64(s.Misses),
		"sessring_memcached_deletes_total":                 float64(s.Deletes),
		"sessring_memcached_errors_total":                  float64(s.Errors),
		"sessring_memcached_failovers_total":               float64(s.Failovers),
		"sessring_memcached_written_bytes_total":           float64(s.BytesWritten),
		"sessring_memcached_read_bytes_total":              float64(s.BytesRead),
		"sessring_memcached_server_up" + m1:                1,
		"sessring_memcached_server_up" + spare:             0,
		"sessring_memcached_server_failures_total" + m1:    7,
		"sessring_memcached_server_failures_total" + spare: 9,
	}
	sameSeries(t, sc.values, want)
	if got := len(want) - 4; got != last-1 {
		t.Errorf("backup.Stats has %d numeric counters, the test expects %d: report the new ones", last-1, got)
	}
}

func TestDuplicateSeriesFailTheScrape(t *testing.T) {
	a := fakeNode(store.Stats{Name: "same"})
	rec := httptest.NewRecorder()
	metrics.Handler(metrics.Node(a), metrics.Node(a)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "duplicate series") {
		t.Errorf("two nodes named alike: %d %q, want 500 naming the duplicate", rec.Code, rec.Body.String())
	}

	s1, s2 := fakeSessions{Requests: 1}, fakeSessions{Requests: 2}
	sc := scrapeOf(t, metrics.Label(metrics.Sessions(s1), "cookie", "a"), metrics.Label(metrics.Sessions(s2), "cookie", "b"))
	for key, want := range map[string]float64{
		`sessring_sessions_requests_total{cookie="a"}`: 1,
		`sessring_sessions_requests_total{cookie="b"}`: 2,
	} {
		if got := sc.values[key]; got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
}

func TestLabelPanicsOnBadName(t *testing.T) {
	for _, name := range []string{"", "1x", "a-b", "__reserved", "a:b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Label(_, %q, _) did not panic", name)
				}
			}()
			metrics.Label(metrics.Sessions(fakeSessions{}), name, "v")
		}()
	}
}

func TestLabelValuesAreEscaped(t *testing.T) {
	name := "odd \"node\"\\\nname"
	sc := scrapeOf(t, metrics.Node(fakeNode(store.Stats{Name: name, Members: []string{name}})))
	key := fmt.Sprintf("sessring_store_members{node=%q}", name)
	if got := sc.values[key]; got != 1 {
		t.Errorf("%s = %v, want 1 (series: %v)", key, got, sc.values)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	srv := httptest.NewServer(metrics.Handler(metrics.Node(fakeNode(store.Stats{Name: "n"}))))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := resp.Header.Get("Content-Type"), metrics.ContentType; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	mustParse(t, string(body))
}

func TestStatus(t *testing.T) {
	s := store.Stats{
		Name: "n1", Members: []string{"n1", "n2"}, TableID: 0xfeedface12345678,
		OwnedSessions: 5, ReplicaSessions: 4, OrphanSessions: 1, BytesHeld: 900,
		PartitionsOwned: 100, PartitionsReplica: 90, PartitionsPending: 3,
		Backup: store.BackupStats{Pending: 7, Written: 11},
	}
	mc := backup.Stats{Servers: []backup.ServerStats{{ID: "m1", Addr: "127.0.0.1:1", Up: true}}}
	srv := httptest.NewServer(metrics.StatusHandler(fakeNode(s), fakeMemcached(mc)))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"node":    "n1",
		"members": []any{"n1", "n2"},
		"table": map[string]any{
			"id": "feedface12345678", "partitions_owned": 100.0, "partitions_replica": 90.0, "partitions_pending": 3.0,
		},
		"copies": map[string]any{
			"owned": 5.0, "replica": 4.0, "orphan": 1.0,
			"owned_bytes": 0.0, "replica_bytes": 0.0, "orphan_bytes": 0.0, "bytes_held": 900.0,
		},
		"backup": map[string]any{
			"pending": 7.0, "queued": 0.0, "written": 11.0, "deleted": 0.0, "failed": 0.0, "dropped": 0.0, "restored": 0.0,
			"passivated": 0.0, "rehydrated": 0.0,
		},
		"repair_backlog": 10.0,
		"memcached":      []any{map[string]any{"id": "m1", "addr": "127.0.0.1:1", "failover": false, "up": true, "failures": 0.0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status =\n%v\nwant\n%v", got, want)
	}
}
