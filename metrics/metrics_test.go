package metrics_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
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

// scrape registers a Collector of src in a fresh registry, checks it with
// the client library's linter, and returns every series gathered, keyed
// name{label="value",...} (labels sorted, as the client sorts them);
// histograms appear as their _count and _sum. It also returns the
// registry.
func scrape(t *testing.T, src metrics.Sources) (map[string]float64, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	c := metrics.NewCollector(src)
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register = %v", err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather = %v", err)
	}
	// OpenMetrics names a counter family without its _total suffix: no
	// other family may then have the same name.
	family := map[string]dto.MetricType{}
	for _, f := range fams {
		name := f.GetName()
		if f.GetType() == dto.MetricType_COUNTER {
			name = strings.TrimSuffix(name, "_total")
		}
		if other, dup := family[name]; dup {
			t.Errorf("family %s is both a %v and a %v in OpenMetrics", name, other, f.GetType())
		}
		family[name] = f.GetType()
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := seriesKey(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[f.GetName()+key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[f.GetName()+key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[f.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+key] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out, reg
}

func seriesKey(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
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
	sc, _ := scrape(t, metrics.Sources{Node: fakeNode(s)})
	n := `node="n1"`
	role := func(r string) string { return `{` + n + `,role="` + r + `"}` }
	sameSeries(t, sc, map[string]float64{
		"sessring_store_sessions" + role("owner"):               float64(s.OwnedSessions),
		"sessring_store_sessions" + role("replica"):             float64(s.ReplicaSessions),
		"sessring_store_sessions" + role("orphan"):              float64(s.OrphanSessions),
		"sessring_store_bytes" + role("owner"):                  float64(s.OwnedBytes),
		"sessring_store_bytes" + role("replica"):                float64(s.ReplicaBytes),
		"sessring_store_bytes" + role("orphan"):                 float64(s.OrphanBytes),
		"sessring_store_bytes_held{" + n + "}":                  float64(s.BytesHeld),
		"sessring_store_cluster_version{" + n + "}":             float64(s.ClusterVersion),
		"sessring_store_partitions" + role("owner"):             float64(s.PartitionsOwned),
		"sessring_store_partitions" + role("replica"):           float64(s.PartitionsReplica),
		"sessring_store_partitions_pending{" + n + "}":          float64(s.PartitionsPending),
		"sessring_store_members{" + n + "}":                     3,
		"sessring_store_reads_total{" + n + "}":                 float64(s.Reads),
		"sessring_store_writes_total{" + n + "}":                float64(s.Writes),
		"sessring_store_deletes_total{" + n + "}":               float64(s.Deletes),
		"sessring_store_requests_served_total{" + n + "}":       float64(s.Served),
		"sessring_store_requests_forwarded_total{" + n + "}":    float64(s.Forwarded),
		"sessring_store_retries_total{" + n + "}":               float64(s.Retries),
		"sessring_store_duplicate_writes_total{" + n + "}":      float64(s.DuplicateWrites),
		"sessring_store_resyncs_total{" + n + "}":               float64(s.Resyncs),
		"sessring_store_replicated_total{" + n + "}":            float64(s.Replicated),
		"sessring_store_replica_writes_total{" + n + "}":        float64(s.ReplicaWrites),
		"sessring_store_replication_errors_total{" + n + "}":    float64(s.ReplicationErrors),
		"sessring_store_repairs_total{" + n + "}":               float64(s.Repairs),
		"sessring_store_anti_entropy_repairs_total{" + n + "}":  float64(s.AntiEntropyRepairs),
		"sessring_store_handoff_entries_total{" + n + "}":       float64(s.HandoffEntries),
		"sessring_store_partitions_pulled_total{" + n + "}":     float64(s.PartitionsPulled),
		"sessring_store_view_mismatches_total{" + n + "}":       float64(s.ViewMismatches),
		"sessring_store_expired_total{" + n + "}":               float64(s.Expired),
		"sessring_store_full_total{" + n + "}":                  float64(s.Full),
		"sessring_store_evicted_total{" + n + "}":               float64(s.Evicted),
		"sessring_store_lock_abandons_pending{" + n + "}":       float64(s.LockAbandonsPending),
		"sessring_store_lock_abandons_dropped_total{" + n + "}": float64(s.LockAbandonsDropped),
		"sessring_store_backup_pending{" + n + "}":              float64(s.Backup.Pending),
		"sessring_store_backup_queued_total{" + n + "}":         float64(s.Backup.Queued),
		"sessring_store_backup_written_total{" + n + "}":        float64(s.Backup.Written),
		"sessring_store_backup_deleted_total{" + n + "}":        float64(s.Backup.Deleted),
		"sessring_store_backup_failed_total{" + n + "}":         float64(s.Backup.Failed),
		"sessring_store_backup_dropped_total{" + n + "}":        float64(s.Backup.Dropped),
		"sessring_store_backup_restored_total{" + n + "}":       float64(s.Backup.Restored),
		"sessring_store_backup_passivated_total{" + n + "}":     float64(s.Backup.Passivated),
		"sessring_store_backup_rehydrated_total{" + n + "}":     float64(s.Backup.Rehydrated),
	})
}

// TestNodeCoversEveryCounter guards against a Stats field added later and
// forgotten here: every numeric field of store.Stats appears as a series.
func TestNodeCoversEveryCounter(t *testing.T) {
	var s store.Stats
	last := numbered(&s, 1000)
	s.Name = "n"
	values := map[float64]bool{}
	got, _ := scrape(t, metrics.Sources{Node: fakeNode(s)})
	for _, v := range got {
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
	sc, _ := scrape(t, metrics.Sources{Sessions: fakeSessions(s)})
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
		"sessring_sessions_load_time_seconds_total": s.LoadTime.Seconds(),
		"sessring_sessions_save_time_seconds_total": s.SaveTime.Seconds(),
		"sessring_sessions_lock_wait_seconds_total": s.LockWaitTime.Seconds(),
	}
	sameSeries(t, sc, want)
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
	sc, _ := scrape(t, metrics.Sources{Memcached: fakeMemcached(s)})
	m1 := `{addr="127.0.0.1:11211",failover="false",server="m1"}`
	spare := `{addr="127.0.0.1:11212",failover="true",server="spare"}`
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
	sameSeries(t, sc, want)
	if got := len(want) - 4; got != last-1 {
		t.Errorf("backup.Stats has %d numeric counters, the test expects %d: report the new ones", last-1, got)
	}
}

func TestStatus(t *testing.T) {
	s := store.Stats{
		Name: "n1", Members: []string{"n1", "n2"}, TableID: 0xfeedface12345678, ClusterVersion: 2,
		OwnedSessions: 5, ReplicaSessions: 4, OrphanSessions: 1, BytesHeld: 900,
		PartitionsOwned: 100, PartitionsReplica: 90, PartitionsPending: 3,
		Backup: store.BackupStats{Pending: 7, Written: 11},
	}
	mc := backup.Stats{Servers: []backup.ServerStats{{ID: "m1", Addr: "127.0.0.1:1", Up: true}}}
	srv := httptest.NewServer(metrics.StatusHandler(metrics.Sources{Node: fakeNode(s), Memcached: fakeMemcached(mc)}))
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
		"node":            "n1",
		"members":         []any{"n1", "n2"},
		"cluster_version": 2.0,
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

func TestLatencyHistograms(t *testing.T) {
	rec := metrics.NewRecorder()
	rec.ObserveOp(store.OpReadLocal, 150*time.Microsecond)
	rec.ObserveOp(store.OpReadLocal, 3*time.Millisecond)
	rec.ObserveOp(store.OpReadForwarded, 700*time.Microsecond)
	rec.ObserveOp(store.OpWriteForwarded, time.Millisecond)
	rec.ObserveOp(store.OpReplicate, 400*time.Microsecond)
	rec.ObserveOp(store.OpPull, 20*time.Millisecond)
	rec.ObserveLoad(200 * time.Microsecond)
	rec.ObserveSave(2 * time.Second)
	got, reg := scrape(t, metrics.Sources{Node: fakeNode(store.Stats{Name: "n1"}), Sessions: fakeSessions{}, Recorder: rec})
	for key, want := range map[string]float64{
		`sessring_store_read_seconds_count{node="n1",path="local"}`:      2,
		`sessring_store_read_seconds_sum{node="n1",path="local"}`:        0.00315,
		`sessring_store_read_seconds_count{node="n1",path="forwarded"}`:  1,
		`sessring_store_write_seconds_count{node="n1",path="local"}`:     0,
		`sessring_store_write_seconds_count{node="n1",path="forwarded"}`: 1,
		`sessring_store_replicate_seconds_count{node="n1"}`:              1,
		`sessring_store_pull_seconds_count{node="n1"}`:                   1,
		`sessring_sessions_load_seconds_count`:                           1,
		`sessring_sessions_save_seconds_sum`:                             2,
	} {
		if g, ok := got[key]; !ok || g < want-1e-9 || g > want+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", key, g, ok, want)
		}
	}

	// The text exposition, written by the client library, has the buckets.
	srv := httptest.NewServer(promhttpHandler(reg))
	defer srv.Close()
	body := get(t, srv.URL)
	for _, line := range []string{
		`sessring_store_read_seconds_bucket{node="n1",path="local",le="0.0001"} 0`,
		`sessring_store_read_seconds_bucket{node="n1",path="local",le="0.0002"} 1`,
		`sessring_store_read_seconds_bucket{node="n1",path="local",le="0.0032"} 2`,
		`sessring_store_read_seconds_bucket{node="n1",path="local",le="+Inf"} 2`,
		`sessring_sessions_save_seconds_bucket{le="1.6384"} 0`,
		`sessring_sessions_save_seconds_bucket{le="3.2768"} 1`,
		`# TYPE sessring_store_replicate_seconds histogram`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestTwoNodesOneRegistry: two nodes of one process register side by side,
// told apart by their node label.
func TestTwoNodesOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, name := range []string{"a", "b"} {
		rec := metrics.NewRecorder()
		rec.ObserveOp(store.OpReplicate, time.Millisecond)
		if err := reg.Register(metrics.NewCollector(metrics.Sources{Node: fakeNode(store.Stats{Name: name}), Recorder: rec})); err != nil {
			t.Fatalf("Register(node %s) = %v", name, err)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "sessring_store_replicate_seconds"); err != nil || n != 2 {
		t.Errorf("replicate histograms = %d (%v), want 2", n, err)
	}
	// Two Managers need a label to tell them apart.
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"cookie": "admin"}, reg)
	if err := wrapped.Register(metrics.NewCollector(metrics.Sources{Sessions: fakeSessions{Requests: 3}})); err != nil {
		t.Fatalf("Register(wrapped sessions) = %v", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sessring_sessions_requests_total Requests that went through LoadAndSave.
# TYPE sessring_sessions_requests_total counter
sessring_sessions_requests_total{cookie="admin"} 3
`), "sessring_sessions_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestRecorderKeepsRecentEvents(t *testing.T) {
	rec := metrics.NewRecorder()
	t0 := time.Unix(1e9, 0).UTC()
	for i := range 150 {
		rec.ObserveEvent(store.Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: store.EventJoined, Node: "a", Member: fmt.Sprint(i)})
	}
	rec.ObserveEvent(store.Event{Time: t0.Add(time.Hour), Kind: store.EventFailed, Node: "a", Member: "c", Took: 2500 * time.Millisecond})
	ev := rec.Events()
	if len(ev) != 100 || ev[0].Member != "51" || ev[99].Kind != store.EventFailed {
		t.Fatalf("Events() = %d events from %+v to %+v, want the last 100 (51 ... failed c)", len(ev), ev[0], ev[len(ev)-1])
	}
	st := metrics.Sources{Node: fakeNode(store.Stats{Name: "a"}), Recorder: rec}.Status()
	last := st.Events[len(st.Events)-1]
	want := metrics.EventStatus{Time: t0.Add(time.Hour), Kind: "failed", Node: "a", Member: "c", TookSeconds: 2.5}
	if last != want {
		t.Errorf("last status event = %+v, want %+v", last, want)
	}
}
