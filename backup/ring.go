package backup

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/internal/stablehash"
)

// node is one memcached server from Config.Servers or Config.Failover.
type node struct {
	id       string // placement identity; defaults to addr
	addr     string // host:port, resolved on every dial so DNS changes apply
	failover bool
}

// tcpAddr is the net.Addr handed to gomemcache. Keeping the host name
// unresolved lets the dialer follow DNS.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// ring places keys on servers by rendezvous (highest random weight)
// hashing over server ids and tracks which servers are down. It implements
// memcache.ServerSelector: PickServer returns the highest-ranked primary
// that is up, else the highest-ranked failover server that is up.
//
// Rendezvous hashing moves only the keys that the new server wins when one
// is added (about 1/N of them), where gomemcache's default crc32-mod-N
// selector would move most keys.
//
// Health is lock-free: downUntil holds Unix nanoseconds (0: up) and gen
// counts markDown calls, so callers can tell whether the ranking changed
// while an operation ran (see pick).
type ring struct {
	nodes   []node
	addrs   []net.Addr
	seeds   []uint64 // per-node hash of the id
	downFor time.Duration
	now     func() time.Time
	log     *slog.Logger

	downUntil []atomic.Int64
	failures  []atomic.Uint64
	gen       atomic.Uint64
}

func newRing(nodes []node, downFor time.Duration, log *slog.Logger) *ring {
	r := &ring{
		nodes:     nodes,
		addrs:     make([]net.Addr, len(nodes)),
		seeds:     make([]uint64, len(nodes)),
		downFor:   downFor,
		now:       time.Now,
		log:       log,
		downUntil: make([]atomic.Int64, len(nodes)),
		failures:  make([]atomic.Uint64, len(nodes)),
	}
	for i, n := range nodes {
		r.addrs[i] = tcpAddr(n.addr)
		r.seeds[i] = stablehash.String(n.id)
	}
	return r
}

// score is node i's rendezvous weight for a key hash.
func (r *ring) score(i int, keyHash uint64) uint64 {
	return stablehash.Mix(keyHash ^ r.seeds[i])
}

// pick returns the index of the server for key: the best-scoring primary
// that is up, else the best-scoring failover server that is up. first
// reports whether that is the key's first choice regardless of health.
func (r *ring) pick(key string) (idx int, first, ok bool) {
	kh := stablehash.String(key)
	now := r.now().UnixNano()
	best, bestUp, bestFailover := -1, -1, -1
	var bestScore, upScore, failoverScore uint64
	for i, n := range r.nodes {
		s := r.score(i, kh)
		up := r.downUntil[i].Load() <= now
		switch {
		case n.failover:
			if up && (bestFailover < 0 || s > failoverScore) {
				bestFailover, failoverScore = i, s
			}
		default:
			if best < 0 || s > bestScore {
				best, bestScore = i, s
			}
			if up && (bestUp < 0 || s > upScore) {
				bestUp, upScore = i, s
			}
		}
	}
	if bestUp >= 0 {
		return bestUp, bestUp == best, true
	}
	return bestFailover, false, bestFailover >= 0
}

// PickServer implements memcache.ServerSelector.
func (r *ring) PickServer(key string) (net.Addr, error) {
	i, _, ok := r.pick(key)
	if !ok {
		return nil, ErrUnavailable
	}
	return r.addrs[i], nil
}

// Each implements memcache.ServerSelector over every configured server.
func (r *ring) Each(f func(net.Addr) error) error {
	for _, a := range r.addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// markDown makes pick skip server i for downFor.
func (r *ring) markDown(i int, err error) {
	r.failures[i].Add(1)
	until := r.now().Add(r.downFor).UnixNano()
	prev := r.downUntil[i].Swap(until)
	r.gen.Add(1)
	if prev == 0 {
		n := r.nodes[i]
		r.log.Warn("backup: memcached server down", "id", n.id, "addr", n.addr, "retry_in", r.downFor, "err", err)
	}
}

// markUp clears a server's expired down mark after a successful request
// on it, logging its return. A mark that has not expired stays: it comes
// from a failure newer than the request's pick.
func (r *ring) markUp(i int) {
	prev := r.downUntil[i].Load()
	if prev != 0 && prev <= r.now().UnixNano() && r.downUntil[i].CompareAndSwap(prev, 0) {
		n := r.nodes[i]
		r.log.Info("backup: memcached server up", "id", n.id, "addr", n.addr)
	}
}

// isUp reports whether pick would consider server i.
func (r *ring) isUp(i int) bool {
	return r.downUntil[i].Load() <= r.now().UnixNano()
}
