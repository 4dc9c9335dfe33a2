package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// BenchmarkColdTier compares, in one run, what the cold tier costs a
// three-node cluster on real loopback TCP (gossip and mutually
// authenticated TLS peer traffic, as in production) with one memcached:
//
//   - Commit latency (one client) and throughput (many clients) without a
//     backup, in write-behind and in write-through mode, updating existing
//     sessions and creating new ones (a new session costs a memcached miss
//     first: restore-on-miss);
//   - the latency of reading a cold session after a full restart (restored
//     from memcached) against a plain gomemcache Get of a value of the
//     same size and a warm read.
//
// It prints a table with ratios at the end:
//
//	go test -run '^$' -bench ColdTier -benchtime 1s ./backup/
func BenchmarkColdTier(b *testing.B) {
	srv := memcachedtest.Start(b)
	sizes := []int{1 << 10, 16 << 10}
	// One cluster per mode, all running, so each measurement runs the three
	// modes back to back under the same machine load.
	clusters := make(map[string][]*store.Node)
	for _, mode := range commitModes {
		clusters[mode.name] = loopbackCluster(b, "c-"+mode.name, 3, mode.addr(srv.Addr), mode.mode)
	}
	var tab table
	for _, size := range sizes {
		benchCommits(b, clusters, size, &tab)
	}
	for _, nodes := range clusters {
		for _, n := range nodes {
			n.Close()
		}
	}
	for _, size := range sizes {
		benchRestore(b, srv.Addr, size, &tab)
	}
	// Printed rather than logged: a benchmark with sub-benchmarks shows its
	// own log only with -v.
	fmt.Printf("\nBenchmarkColdTier: 3 nodes on loopback TCP (TLS), one memcached, GOMAXPROCS=%d\n%s\n", runtime.GOMAXPROCS(0), tab.String())
}

// commitMode is a configuration Commit is measured in.
type commitMode struct {
	name   string
	backup bool
	mode   store.BackupMode
}

var commitModes = []commitMode{
	{"none", false, store.WriteBehind},
	{"write-behind", true, store.WriteBehind},
	{"write-through", true, store.WriteThrough},
}

// addr is the memcached address the mode's nodes use; "" for none.
func (m commitMode) addr(mc string) string {
	if !m.backup {
		return ""
	}
	return mc
}

// table collects results: rows by name, with a baseline for ratios.
type table struct {
	rows []row
}

type row struct {
	name, base string // base: the row this one is compared with
	ns         float64
	opsPerSec  float64
	extra      string
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

func (t *table) find(name string) (row, bool) {
	for _, r := range t.rows {
		if r.name == name {
			return r, true
		}
	}
	return row{}, false
}

func (t *table) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%-46s %12s %12s %8s  %s\n", "measurement", "latency", "ops/s", "ratio", "compared with / notes")
	for _, r := range t.rows {
		ratio, vs := "", ""
		if base, ok := t.find(r.base); ok && base.ns > 0 {
			ratio = fmt.Sprintf("%.2fx", r.ns/base.ns)
			vs = r.base
		}
		ops := ""
		if r.opsPerSec > 0 {
			ops = strconv.FormatFloat(r.opsPerSec, 'f', 0, 64)
		}
		fmt.Fprintf(&s, "%-46s %12v %12s %8s  %s %s\n", r.name, time.Duration(r.ns).Round(time.Microsecond/10), ops, ratio, vs, r.extra)
	}
	return s.String()
}

// loopbackCluster starts count nodes on 127.0.0.1 with real sockets, each
// with its own memcached client (nil addr: no backup).
func loopbackCluster(tb testing.TB, prefix string, count int, mcAddr string, mode store.BackupMode) []*store.Node {
	tb.Helper()
	var nodes []*store.Node
	var seed string
	for i := range count {
		cfg := store.DefaultConfig()
		cfg.Name = fmt.Sprintf("%s-%d", prefix, i+1)
		cfg.BindAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(tb)))
		cfg.SecretKey = clusterKey
		cfg.Logger = testkit.QuietLogger()
		cfg.HandoverTimeout = 2 * time.Second
		if seed != "" {
			cfg.Join = []string{seed}
		}
		if mcAddr != "" {
			b, err := backup.New(backup.Config{Servers: []string{mcAddr}, SecretKey: clusterKey, MaxIdleConns: 64})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { b.Close() })
			cfg.Backup, cfg.BackupMode = b, mode
		}
		n, err := store.Open(cfg)
		if err != nil {
			tb.Fatalf("store.Open(%s) = %v", cfg.Name, err)
		}
		tb.Cleanup(func() { n.Close() }) // runs before the backup's Close
		nodes = append(nodes, n)
		seed = cfg.BindAddr
	}
	testkit.Eventually(tb, 30*time.Second, "loopback cluster converged", func() bool {
		for _, n := range nodes {
			s := n.Stats()
			if len(s.Members) != count || s.PartitionsPending != 0 || s.TableID != nodes[0].Stats().TableID {
				return false
			}
		}
		return true
	})
	return nodes
}

// freePort asks the kernel for a free loopback port for gossip (TCP and
// UDP on the same number).
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomValue(n int) []byte {
	v := make([]byte, n)
	rand.Read(v) // incompressible: compression does not flatter the backup
	return v
}

// benchCommits measures Commit of size-byte values in every mode.
func benchCommits(b *testing.B, clusters map[string][]*store.Node, size int, tab *table) {
	exp := time.Now().Add(time.Hour)
	val := randomValue(size)
	kib := fmt.Sprintf("%dKiB", size>>10)
	existing := make([]string, 1000)
	for i := range existing {
		existing[i] = fmt.Sprintf("bench-%s-%d", kib, i)
		for _, nodes := range clusters {
			if err := nodes[i%3].Commit(existing[i], val, exp); err != nil {
				b.Fatal(err)
			}
		}
	}
	var fresh atomic.Int64
	cases := []struct {
		kind     string
		parallel bool
		token    func(i int) string
	}{
		{"update", false, func(i int) string { return existing[i%len(existing)] }},
		{"create", false, func(int) string { return fmt.Sprintf("new-%s-%d", kib, fresh.Add(1)) }},
		{"update, 32 clients", true, func(i int) string { return existing[i%len(existing)] }},
	}
	// Three interleaved rounds per case; the table takes each mode's median,
	// which a burst of load on a shared machine moves less than a mean.
	const rounds = 3
	for ci, c := range cases {
		results := make(map[string][]float64)
		for r := range rounds {
			for mi := range commitModes {
				mode := commitModes[(ci+r+mi)%len(commitModes)] // rotate who goes first
				name := fmt.Sprintf("commit/%s/%s/%s", kib, c.kind, mode.name)
				quiesce(b, clusters)
				var ns float64 // set by each run; the last, longest one counts
				b.Run(name, func(b *testing.B) {
					ns = benchCommit(b, clusters[mode.name], val, exp, c.parallel, c.token)
				})
				results[name] = append(results[name], ns)
			}
		}
		for _, mode := range commitModes {
			name := fmt.Sprintf("commit/%s/%s/%s", kib, c.kind, mode.name)
			base := ""
			if mode.backup {
				base = fmt.Sprintf("commit/%s/%s/none", kib, c.kind)
			}
			ns := median(results[name])
			tab.add(row{name: name, base: base, ns: ns, opsPerSec: 1e9 / ns, extra: spread(results[name])})
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// spread shows the rounds' range.
func spread(v []float64) string {
	return fmt.Sprintf("(rounds %v..%v)", time.Duration(slices.Min(v)).Round(time.Microsecond), time.Duration(slices.Max(v)).Round(time.Microsecond))
}

// quiesce waits for the write-behind queues of earlier measurements to
// drain and collects garbage, so that no measurement pays for another's.
func quiesce(b *testing.B, clusters map[string][]*store.Node) {
	testkit.Eventually(b, time.Minute, "write-behind queues drained", func() bool {
		for _, nodes := range clusters {
			for _, n := range nodes {
				if n.Stats().Backup.Pending > 0 {
					return false
				}
			}
		}
		return true
	})
	runtime.GC()
}

// benchCommit returns the mean time per Commit; with parallel, 32 clients
// share the cluster, so it is the inverse of throughput. Every Commit
// changes the value: the store skips writes that change nothing.
func benchCommit(b *testing.B, nodes []*store.Node, val []byte, exp time.Time, parallel bool, token func(int) string) float64 {
	b.SetBytes(int64(len(val)))
	var seq atomic.Int64
	commit := func(v []byte) error {
		i := int(seq.Add(1))
		binary.BigEndian.PutUint64(v, uint64(i))
		return nodes[i%len(nodes)].Commit(token(i), v, exp)
	}
	start := time.Now()
	if parallel {
		b.SetParallelism(16) // 32 clients on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			v := bytes.Clone(val)
			for pb.Next() {
				if err := commit(v); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		v := bytes.Clone(val)
		for b.Loop() {
			if err := commit(v); err != nil {
				b.Fatal(err)
			}
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(b.N)
}

// benchRestore times reading cold sessions of size bytes after a full
// restart, then the same reads warm, then raw gets of a same-size value.
func benchRestore(b *testing.B, mcAddr string, size int, tab *table) {
	const count = 2000
	kib := fmt.Sprintf("%dKiB", size>>10)
	val := randomValue(size)
	exp := time.Now().Add(time.Hour)
	toks := make([]string, count)
	before := loopbackCluster(b, "r-"+kib, 3, mcAddr, store.WriteThrough)
	for i := range toks {
		toks[i] = fmt.Sprintf("cold-%s-%d", kib, i)
		if err := before[i%3].Commit(toks[i], val, exp); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range before {
		n.Close() // every node goes: nothing is left in memory
	}
	after := loopbackCluster(b, "s-"+kib, 3, mcAddr, store.WriteThrough)
	read := func(i int) {
		v, ok, err := after[i%3].FindCtx(context.Background(), toks[i])
		if err != nil || !ok || len(v) != size {
			b.Fatalf("Find(%s) = (%d bytes, %v, %v), want %d bytes", toks[i], len(v), ok, err, size)
		}
	}
	cold := timeEach(count, read)
	warm := timeEach(count, read)
	if s := sumRestored(after); s != count {
		b.Fatalf("restored %d sessions, want %d", s, count)
	}

	mc := memcache.New(mcAddr)
	defer mc.Close()
	if err := mc.Set(&memcache.Item{Key: "raw-" + kib, Value: val}); err != nil {
		b.Fatal(err)
	}
	raw := timeEach(count, func(int) {
		if it, err := mc.Get("raw-" + kib); err != nil || len(it.Value) != size {
			b.Fatalf("raw Get = %v", err)
		}
	})
	base := "restore/" + kib + "/raw memcached get"
	tab.add(row{name: base, ns: raw.mean, extra: raw.String()})
	tab.add(row{name: "restore/" + kib + "/cold Find (restored)", base: base, ns: cold.mean, extra: cold.String()})
	tab.add(row{name: "restore/" + kib + "/warm Find", base: base, ns: warm.mean, extra: warm.String()})
}

func sumRestored(nodes []*store.Node) int {
	var s uint64
	for _, n := range nodes {
		s += n.Stats().Backup.Restored
	}
	return int(s)
}

// latencies summarises timed calls.
type latencies struct{ mean, p50, p99 float64 }

func (l latencies) String() string {
	return fmt.Sprintf("(p50 %v, p99 %v)", time.Duration(l.p50).Round(time.Microsecond), time.Duration(l.p99).Round(time.Microsecond))
}

// timeEach calls fn(0..count-1) one at a time and summarises the latencies.
func timeEach(count int, fn func(i int)) latencies {
	d := make([]float64, count)
	var total float64
	for i := range count {
		start := time.Now()
		fn(i)
		d[i] = float64(time.Since(start).Nanoseconds())
		total += d[i]
	}
	slices.Sort(d)
	return latencies{mean: total / float64(count), p50: d[count/2], p99: d[count*99/100]}
}
