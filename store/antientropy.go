package store

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// antiEntropyLoop periodically compares each owned partition with its
// replica by digest and repairs the ones that differ. It catches what
// replication missed: an asynchronous write lost in flight, a replica that
// was briefly partitioned, a version adopted during a failover.
func (n *Node) antiEntropyLoop() {
	defer n.wg.Done()
	for {
		d := n.cfg.AntiEntropyInterval
		t := time.NewTimer(d/2 + rand.N(d))
		select {
		case <-n.stop:
			t.Stop()
			return
		case <-t.C:
			n.antiEntropyRound()
		}
	}
}

type digestItem struct {
	p      int
	digest uint64
}

// antiEntropyRound runs one comparison with every replica.
func (n *Node) antiEntropyRound() {
	v := n.view.Load()
	if v == nil || n.leaving.Load() {
		return
	}
	byReplica := make(map[string][]digestItem)
	for p, part := range n.parts {
		owner, replica := v.table.Holders(p)
		if owner != n.name || replica == "" || !part.isReady() {
			continue
		}
		_, _, dg := part.stats()
		byReplica[replica] = append(byReplica[replica], digestItem{p, dg})
	}
	for replica, items := range byReplica {
		ctx, cancel := context.WithTimeout(context.Background(), 4*n.cfg.CallTimeout)
		n.compareWith(ctx, v, replica, items)
		cancel()
	}
}

func (n *Node) compareWith(ctx context.Context, v *view, replica string, items []digestItem) {
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	enc.Uvarint(uint64(len(items)))
	for _, it := range items {
		enc.Uvarint(uint64(it.p))
		enc.Uvarint(it.digest)
	}
	resp, err := n.call(ctx, v, replica, mDigest, enc.B)
	n.stats.antiEntropyCalls.Add(1)
	n.stats.antiEntropyBytes.Add(uint64(len(enc.B) + len(resp)))
	if err != nil {
		return
	}
	d := wire.NewDecoder(resp)
	diff := decodeInts(d, len(n.parts))
	if d.Finish() != nil {
		return
	}
	for _, p := range diff {
		if err := n.repairPartition(ctx, v, replica, p); err != nil {
			n.log.Debug("anti-entropy repair", "replica", replica, "partition", p, "err", err)
		}
	}
}

// repairPartition sends the owner's whole partition; the replica merges it and
// returns what it has that is newer or that the owner lacks.
func (n *Node) repairPartition(ctx context.Context, v *view, replica string, p int) error {
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	enc.Uvarint(uint64(p))
	encodeEntries(&enc, n.parts[p].snapshot())
	resp, err := n.call(ctx, v, replica, mRepair, enc.B)
	n.stats.antiEntropyCalls.Add(1)
	n.stats.antiEntropyBytes.Add(uint64(len(enc.B) + len(resp)))
	if err != nil {
		return err
	}
	d := wire.NewDecoder(resp)
	list, err := decodeEntries(d)
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return err
	}
	for _, te := range list {
		n.adopt(p, te.token, te.e)
	}
	n.stats.antiEntropyRepairs.Add(1)
	return nil
}

// serveDigest answers which of the owner's partitions differ here.
func (n *Node) serveDigest(v *view, h header, d *wire.Decoder) ([]byte, error) {
	count := d.Count(2)
	var diff []int
	for i := 0; i < count && d.Err() == nil; i++ {
		p := readPartition(d, len(n.parts))
		dg := d.Uvarint()
		if p < 0 || d.Err() != nil {
			break
		}
		owner, replica := v.table.Holders(p)
		if owner != h.from || replica != n.name {
			continue // views differ: compare again next round
		}
		if !n.parts[p].isReady() {
			// Being pulled here (a joiner, a new replica): the pull asks
			// every source, the owner included, before it is marked ready,
			// and a repair now would send the owner's whole copy a second
			// time. Compared again once ready.
			continue
		}
		if _, _, mine := n.parts[p].stats(); mine != dg {
			diff = append(diff, p)
		}
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	var enc wire.Encoder
	encodeInts(&enc, diff)
	return enc.B, nil
}

// serveRepair merges the owner's partition and returns the entries where this
// replica's copy is newer, or that the owner does not have.
func (n *Node) serveRepair(v *view, h header, d *wire.Decoder) ([]byte, error) {
	p := readPartition(d, len(n.parts))
	list, err := decodeEntries(d)
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return nil, err
	}
	if owner, replica := v.table.Holders(p); owner != h.from || replica != n.name {
		return nil, errNotHolder
	}
	part := n.parts[p]
	theirs := make(map[string]bool, len(list))
	var back []tokenEntry
	for _, te := range list {
		theirs[te.token] = true
		if cur, taken := part.merge(te.token, te.e, &n.used); !taken && cur != nil && newer(cur, te.e) {
			back = append(back, tokenEntry{te.token, cur})
		}
	}
	for _, te := range part.snapshot() {
		if !theirs[te.token] {
			back = append(back, te)
		}
	}
	var enc wire.Encoder
	encodeEntries(&enc, back)
	return enc.B, nil
}
