package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// maxPullBytes bounds one pull response.
const maxPullBytes = 4 << 20

// pullLoop copies in the partitions this node newly holds, from the nodes
// that held them before (the holders in the table without this node). It
// runs after every view change and retries until every such partition is
// ready. This is also what re-replicates after a crash: the new replica
// pulls from the surviving copy at once, without waiting for traffic.
func (n *Node) pullLoop() {
	defer n.wg.Done()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	backoff := minPullRetry
	for {
		select {
		case <-n.stop:
			return
		case <-n.pullKick:
		case <-retry.C:
		}
		if n.pullPending() > 0 {
			retry.Reset(backoff)
			backoff = min(2*backoff, maxPullRetry)
		} else {
			backoff = minPullRetry
			n.noteCaughtUp()
		}
	}
}

// A round that leaves partitions pending is retried after minPullRetry,
// doubling up to maxPullRetry. The usual first failure is a source that has
// not yet heard of the joiner (errOtherView, which also pushes it the
// joiner's membership): it knows a few milliseconds later, and a joiner
// that waited a flat 100 ms spent most of a small join waiting.
const (
	minPullRetry = 10 * time.Millisecond
	maxPullRetry = 100 * time.Millisecond
)

// pullPending runs one round of pulls and returns how many partitions are
// still not ready.
func (n *Node) pullPending() int {
	v := n.view.Load()
	if v == nil || n.leaving.Load() {
		return 0
	}
	// Each partition is pulled whole from one source first: its first
	// source, the owner in the placement without this node (view.sources
	// lists it first; in a join, the owner before it, which has the newest
	// access times; with joins or failures at once, possibly another
	// holder, whose access times may be older: the digest compares tokens
	// and versions only).
	// Every other source is asked afterwards with this node's digest, so
	// one whose copy now matches sends nothing. Every source still answers
	// for every partition, as before, but the bytes cross once instead of
	// once per holder.
	first := make(map[string][]int)
	rest := make(map[string][]int)
	needs := make(map[int]int)
	gens := make(map[int]uint64) // a resync marked during the round voids it
	left := 0
	for p, part := range n.parts {
		if !v.holds(p) || part.isReady() {
			continue
		}
		srcs, stranded := part.pullSources(v)
		if stranded {
			left++ // its holders are lost: wait for them or for LostMemberTTL
			continue
		}
		if len(srcs) == 0 {
			part.setReady(true) // nobody else could have it
			continue
		}
		needs[p] = len(srcs)
		gens[p] = part.generation()
		first[srcs[0]] = append(first[srcs[0]], p)
		for _, s := range srcs[1:] {
			rest[s] = append(rest[s], p)
		}
	}
	if len(needs) == 0 {
		return left
	}
	// The sources of a phase are pulled in parallel, each in pullStreams
	// groups.
	var mu sync.Mutex // guards needs and full
	full := make(map[int]bool)
	for _, phase := range []map[string][]int{first, rest} {
		var wg sync.WaitGroup
		for src, ps := range phase {
			for _, group := range pullGroups(ps) {
				wg.Go(func() {
					start := time.Now()
					done, complete, err := n.pullFrom(v, src, group)
					if err != nil {
						n.log.Debug("pull", "from", src, "partitions", len(group), "err", err)
					} else {
						n.observeOp(OpPull, start)
					}
					mu.Lock()
					for _, p := range done {
						needs[p]--
					}
					for _, p := range complete {
						full[p] = true
					}
					mu.Unlock()
				})
			}
		}
		wg.Wait()
	}
	for p, c := range needs {
		if c > 0 || !(full[p] || n.parts[p].mayCompleteWithout(v)) {
			left++ // retried; a lost previous holder may have what is missing
			continue
		}
		if n.view.Load() == v && n.parts[p].setReadyAt(gens[p]) { // relative to the view it was pulled for
			n.stats.partitionsPulled.Add(1)
		}
	}
	return left
}

// pullStreams is how many pulls run at once against one source: while one
// page is merged here, the source encodes the next.
const pullStreams = 2

// pullGroups splits ps into up to pullStreams interleaved groups.
func pullGroups(ps []int) [][]int {
	k := min(pullStreams, len(ps))
	groups := make([][]int, k)
	for i, p := range ps {
		groups[i%k] = append(groups[i%k], p)
	}
	return groups
}

// pullFrom copies partitions ps from src, page by page, and returns those
// it answered for and, among them, those src holds completely (a source
// that is itself still pulling a partition sends what it has, which alone
// does not make the copy here complete).
func (n *Node) pullFrom(v *view, src string, ps []int) (done, complete []int, err error) {
	for len(ps) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 4*n.cfg.CallTimeout)
		var enc wire.Encoder
		header{n.name, v.id()}.encode(&enc)
		encodeInts(&enc, ps)
		// With each partition goes this node's digest of it: a source whose
		// copy has the same digest sends nothing for it (a resync after a
		// false alarm costs a round trip, not a copy of everything).
		// Not after a split brain: equal versions may hold different data
		// there, and the digest only covers versions.
		for _, p := range ps {
			_, _, dg := n.parts[p].stats()
			compare := !n.parts[p].needsFullPull()
			enc.Bool(compare)
			enc.Uvarint(dg)
		}
		resp, err := n.call(ctx, v, src, mPull, enc.B)
		cancel()
		if err != nil {
			return done, complete, err
		}
		d := wire.NewDecoder(resp)
		list, err := decodeEntries(d)
		got := decodeInts(d, len(n.parts))
		full := decodeInts(d, len(n.parts))
		if err == nil {
			err = d.Finish()
		}
		if err != nil || len(got) == 0 {
			return done, complete, fmt.Errorf("store: pull from %s: bad response: %w", src, errors.Join(err, errNotReady))
		}
		n.mergeAll(list)
		done = append(done, got...)
		complete = append(complete, full...)
		ps = remove(ps, got)
	}
	return done, complete, nil
}

func (n *Node) mergeAll(list []tokenEntry) {
	now := n.now().UnixNano()
	for _, te := range list {
		if te.e.deleted && te.e.expiry < now {
			continue // a tombstone past its time: nothing to remember
		}
		n.adopt(n.partitionOf(te.token), te.token, te.e)
	}
	n.stats.handoffEntries.Add(uint64(len(list)))
}

func (n *Node) partitionOf(token string) int {
	return n.view.Load().table.Partition(token)
}

func remove(ps, done []int) []int {
	drop := make(map[int]bool, len(done))
	for _, p := range done {
		drop[p] = true
	}
	out := ps[:0:0]
	for _, p := range ps {
		if !drop[p] {
			out = append(out, p)
		}
	}
	return out
}

// servePull returns whole partitions to a new holder. It answers only when
// both sides use the same placement: then this node no longer accepts owner
// writes for those partitions, so what it returns is final. A leaving node
// answers regardless: it accepts no writes at all.
func (n *Node) servePull(v *view, h header, d *wire.Decoder) ([]byte, error) {
	ps := decodeInts(d, len(n.parts))
	compare := make([]bool, len(ps))
	theirs := make([]uint64, len(ps))
	for i := range ps {
		compare[i], theirs[i] = d.Bool(), d.Uvarint()
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if h.tableID != v.id() && !n.leaving.Load() {
		return nil, errOtherView
	}
	var list []tokenEntry
	var done, complete []int
	size := 0
	for i, p := range ps {
		// Before the snapshot: never claims more than it sends; and not
		// while this node is cut off and about to re-pull (resync.go).
		ready := n.parts[p].isReady() && !n.cutOff.Load()
		var snap []tokenEntry
		if _, _, mine := n.parts[p].stats(); !compare[i] || mine != theirs[i] {
			snap = n.parts[p].snapshot()
		}
		for _, te := range snap {
			size += te.e.size
		}
		if size > maxPullBytes && len(done) > 0 {
			break
		}
		list = append(list, snap...)
		done = append(done, p)
		if ready {
			complete = append(complete, p)
		}
	}
	// size (the accounting size: payload plus more than an entry's encoded
	// overhead) bounds the encoding, so the page is written into one buffer
	// instead of growing and copying a 4 MiB slice a dozen times.
	enc := wire.Encoder{B: make([]byte, 0, size+16*len(ps)+64)}
	encodeEntries(&enc, list)
	encodeInts(&enc, done)
	encodeInts(&enc, complete)
	return enc.B, nil
}
