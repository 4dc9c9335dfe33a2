package placement_test

// The acceptance targets of the placement design, measured with
// DefaultPartitions over several realistic name schemes. Run with -v to see
// the measured ratios.

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/e5b1d45c/sessring/placement"
)

const (
	// maxLoad bounds the most loaded member relative to the mean.
	maxLoad = 1.15
	// maxMove bounds copies moved by one join or leave relative to optimal.
	maxMove = 1.2
	// sessions is the number of random session tokens placed.
	sessions = 200_000
	// minN and maxN bound the cluster sizes measured.
	minN, maxN = 3, 32
)

// reportN are the cluster sizes whose ratios the tests log; the tests also
// log the worst over all sizes, recorded under N=0.
var reportN = []int{3, 5, 8, 16, 32}

type nameSet struct {
	name  string
	names []string // maxN+1 distinct names; clusters use prefixes
}

func nameSets() []nameSet {
	return []nameSet{
		{"sequential", seqNames(maxN + 1)},
		{"hostnames", hostNames(maxN+1, 1)},
		{"pods", podNames(maxN+1, 2)},
	}
}

// TestBalance checks target 1: the most loaded member owns at most maxLoad
// times the mean number of partitions and of sessions, and holds at most
// maxLoad times the mean number of copies (owner plus replica).
func TestBalance(t *testing.T) {
	perPartition := sessionCounts(placement.DefaultPartitions, sessions)
	worst := make(map[int]balance)
	for _, set := range nameSets() {
		t.Run(set.name, func(t *testing.T) {
			for n := minN; n <= maxN; n++ {
				b := measureBalance(placement.New(set.names[:n], 0), perPartition)
				for _, c := range []struct {
					what  string
					ratio float64
				}{{"owned partitions", b.owned}, {"owned sessions", b.sessions}, {"copies", b.copies}} {
					if c.ratio > maxLoad {
						t.Errorf("N=%d: most loaded member has %.3fx the mean %s, want <= %.2fx", n, c.ratio, c.what, maxLoad)
					}
				}
				worst[n] = worst[n].max(b)
				worst[0] = worst[0].max(b)
			}
		})
	}
	t.Logf("max/mean over %v with %d partitions, %d sessions:", names(nameSets()), placement.DefaultPartitions, sessions)
	t.Logf("%4s %10s %10s %10s", "N", "owned", "sessions", "copies")
	for _, n := range reportN {
		b := worst[n]
		t.Logf("%4d %10.3f %10.3f %10.3f", n, b.owned, b.sessions, b.copies)
	}
	b := worst[0]
	t.Logf("%4s %10.3f %10.3f %10.3f", "all", b.owned, b.sessions, b.copies)
}

// TestMovement checks target 2: one join or one leave moves at most maxMove
// times the optimal number of copies. For a join to N+1 members the optimum
// is the newcomer's fair share, 2P/(N+1); for a leave it is the copies the
// leaver held (about 2P/N), which must all be recreated. It also checks that
// only the joiner receives copies, and that a leave moves exactly what the
// leaver held, which is what rendezvous hashing promises.
func TestMovement(t *testing.T) {
	parts := float64(placement.DefaultPartitions)
	worstJoin, worstLeave := make(map[int]float64), make(map[int]float64)
	for _, set := range nameSets() {
		t.Run(set.name, func(t *testing.T) {
			for n := minN; n <= maxN; n++ {
				before := placement.New(set.names[:n], 0)
				joiner := set.names[n]
				joined := placement.New(set.names[:n+1], 0)
				got, want := placement.Moved(before, joined), holds(joined, joiner)
				if got != want {
					t.Errorf("N=%d join: Moved = %d, want %d (only the joiner's copies)", n, got, want)
				}
				join := float64(got) / (2 * parts / float64(n+1))
				worstJoin[n] = max(worstJoin[n], join)

				leaver := mostCopies(before)
				got, want = placement.Moved(before, before.Without(leaver)), holds(before, leaver)
				if got != want {
					t.Errorf("N=%d leave: Moved = %d, want %d (the leaver's copies)", n, got, want)
				}
				leave := float64(got) / (2 * parts / float64(n))
				worstLeave[n] = max(worstLeave[n], leave)
				worstJoin[0], worstLeave[0] = max(worstJoin[0], join), max(worstLeave[0], leave)

				if join > maxMove || leave > maxMove {
					t.Errorf("N=%d: join moved %.3fx, leave %.3fx the optimal copies, want <= %.2fx", n, join, leave, maxMove)
				}
			}
		})
	}
	t.Logf("moved/optimal over %v with %d partitions (leave: most loaded leaver):", names(nameSets()), placement.DefaultPartitions)
	t.Logf("%4s %10s %10s", "N", "join", "leave")
	for _, n := range reportN {
		t.Logf("%4d %10.3f %10.3f", n, worstJoin[n], worstLeave[n])
	}
	t.Logf("%4s %10.3f %10.3f", "all", worstJoin[0], worstLeave[0])
}

// balance holds max/mean ratios of one table.
type balance struct{ owned, sessions, copies float64 }

func (b balance) max(o balance) balance {
	return balance{max(b.owned, o.owned), max(b.sessions, o.sessions), max(b.copies, o.copies)}
}

// measureBalance returns the max/mean load ratios of tb, where
// perPartition[p] is the number of sessions in partition p.
func measureBalance(tb *placement.Table, perPartition []int) balance {
	index := make(map[string]int)
	for i, m := range tb.Members() {
		index[m] = i
	}
	owned := make([]int, tb.Len())
	sessions := make([]int, tb.Len())
	copies := make([]int, tb.Len())
	total := 0
	for p := 0; p < tb.Partitions(); p++ {
		owner, replica := tb.Holders(p)
		owned[index[owner]]++
		sessions[index[owner]] += perPartition[p]
		copies[index[owner]]++
		copies[index[replica]]++
		total += perPartition[p]
	}
	n, parts := float64(tb.Len()), float64(tb.Partitions())
	return balance{
		owned:    float64(maxOf(owned)) / (parts / n),
		sessions: float64(maxOf(sessions)) / (float64(total) / n),
		copies:   float64(maxOf(copies)) / (2 * parts / n),
	}
}

// sessionCounts places count random session tokens (32 random bytes,
// base64url, as scs generates them) and returns the count per partition.
func sessionCounts(partitions, count int) []int {
	r := rand.New(rand.NewChaCha8([32]byte{'s', 'e', 's', 's'}))
	counts := make([]int, partitions)
	var raw [32]byte
	for i := 0; i < count; i++ {
		for j := 0; j < len(raw); j += 8 {
			v := r.Uint64()
			for k := 0; k < 8; k++ {
				raw[j+k] = byte(v >> (8 * k))
			}
		}
		counts[placement.PartitionOf(base64.RawURLEncoding.EncodeToString(raw[:]), partitions)]++
	}
	return counts
}

// mostCopies returns the member holding the most copies, the worst leaver.
func mostCopies(tb *placement.Table) string {
	best, most := "", -1
	for _, m := range tb.Members() {
		if c := holds(tb, m); c > most {
			best, most = m, c
		}
	}
	return best
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func names(sets []nameSet) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s.name)
	}
	return out
}

// seqNames returns node-00, node-01, ...
func seqNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%02d", i)
	}
	return out
}

// hostNames returns n distinct cloud-style host:port names.
func hostNames(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 0x686f7374))
	return distinct(n, func() string {
		return fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal:7946", r.IntN(256), r.IntN(256))
	})
}

// podNames returns n distinct Kubernetes-style pod names.
func podNames(n int, seed uint64) []string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	r := rand.New(rand.NewPCG(seed, 0x706f64))
	return distinct(n, func() string {
		b := []byte("sessring-7d9f8c6b5-xxxxx")
		for i := len(b) - 5; i < len(b); i++ {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	})
}

// distinct calls gen until it returned n different names, in order.
func distinct(n int, gen func() string) []string {
	seen := make(map[string]bool)
	var out []string
	for len(out) < n {
		if s := gen(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkPartitionCount shows the trade-off behind DefaultPartitions.
// For each candidate count it reports the time of New with 32 members and:
//   - owned-max/mean: the worst owned-partitions ratio over the name sets of
//     TestBalance and N=3..32 (the target is 1.15);
//   - random32-max/mean and random32-over: the worst ratio, and the fraction
//     of sets above 1.15, over 200 random 32-member sets of pod names.
func BenchmarkPartitionCount(b *testing.B) {
	for _, parts := range []int{4096, 8192, 16384, 32768} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			fixed := 0.0
			for _, set := range nameSets() {
				for n := minN; n <= maxN; n++ {
					fixed = max(fixed, ownedRatio(set.names[:n], parts))
				}
			}
			const trials = 200
			random, over := 0.0, 0
			for seed := uint64(0); seed < trials; seed++ {
				r := ownedRatio(podNames(32, 1000+seed), parts)
				random = max(random, r)
				if r > maxLoad {
					over++
				}
			}
			names := nameSets()[1].names[:32]
			for b.Loop() {
				placement.New(names, parts)
			}
			b.ReportMetric(fixed, "owned-max/mean")
			b.ReportMetric(random, "random32-max/mean")
			b.ReportMetric(float64(over)/trials, "random32-over")
		})
	}
}

func ownedRatio(names []string, parts int) float64 {
	return measureBalance(placement.New(names, parts), make([]int, parts)).owned
}
