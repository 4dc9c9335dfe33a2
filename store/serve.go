package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/e5b1d45c/sessring/internal/rpc"

	"github.com/e5b1d45c/sessring/internal/wire"
	"github.com/e5b1d45c/sessring/placement"
)

// peerHandler is the node's rpc.Handler, with a fast path for owner-local
// reads.
type peerHandler struct{ n *Node }

var _ rpc.FastHandler = peerHandler{}

func (h peerHandler) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	return h.n.serveRPC(ctx, method, body)
}

// ServeFast answers a forwarded read that this node owns and may serve from
// memory at once (see localFastRead), on the connection's reader goroutine.
func (h peerHandler) ServeFast(method uint8, body, buf []byte) ([]byte, bool) {
	n := h.n
	if n.closed.Load() {
		return nil, false
	}
	v := n.view.Load()
	if v == nil {
		return nil, false
	}
	if method == mReplicate && n.backup == nil {
		// Accepting a version never blocks without a cold tier (reserve
		// cannot passivate): answer on the reader goroutine, errors too.
		return n.replicateFast(v, body)
	}
	if method != mRead {
		return nil, false
	}
	d := wire.NewDecoder(body)
	hd := decodeHeader(d)
	token := d.String()
	if d.Finish() != nil || !validToken(token) {
		return nil, false
	}
	e, ok := n.localFastRead(token)
	if !ok {
		return nil, false
	}
	n.stats.requests.Add(1)
	if _, member := v.addrs[hd.from]; member {
		n.reach.note(hd.from, n.now())
	}
	enc := wire.Encoder{B: buf}
	encodeOptEntry(&enc, e)
	return enc.B, true
}

// replicateFast runs serveReplicate inline; a refusal goes the normal way so
// its error code reaches the owner.
func (n *Node) replicateFast(v *view, body []byte) ([]byte, bool) {
	d := wire.NewDecoder(body)
	h := decodeHeader(d)
	if d.Err() != nil {
		return nil, false
	}
	resp, err := n.serveReplicate(v, h, d)
	if err != nil {
		return nil, false // not applied: ServeRPC repeats it and reports the error
	}
	n.stats.requests.Add(1)
	n.reach.note(h.from, n.now())
	return resp, true
}

// serveRPC dispatches one peer request. Decoding errors are reported to the
// peer as internal errors; they never touch stored data.
func (n *Node) serveRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	n.stats.requests.Add(1)
	if n.closed.Load() {
		return nil, toRemote(ErrClosed)
	}
	v := n.view.Load()
	if v == nil {
		return nil, toRemote(errNotReady)
	}
	d := wire.NewDecoder(body)
	h := decodeHeader(d)
	if err := d.Err(); err != nil {
		return nil, err
	}
	if h.tableID != v.id() {
		n.stats.viewMismatches.Add(1)
	}
	if _, member := v.addrs[h.from]; member {
		n.reach.note(h.from, n.now())
	}
	var (
		resp []byte
		err  error
	)
	switch method {
	case mRead:
		resp, err = n.serveRead(ctx, v, d)
	case mWrite:
		resp, err = n.serveWrite(ctx, v, d)
	case mReplicate:
		resp, err = n.serveReplicate(v, h, d)
	case mPull:
		resp, err = n.servePull(v, h, d)
	case mFetch:
		resp, err = n.serveFetch(v, h, d)
	case mHandover:
		resp, err = n.serveHandover(v, h, d)
	case mDigest:
		resp, err = n.serveDigest(v, h, d)
	case mRepair:
		resp, err = n.serveRepair(v, h, d)
	case mLease:
		resp, err = n.serveLease(v, h, d)
	case mDepart:
		resp, err = n.serveDepart(h)
	case mPing:
		err = d.Finish()
	case mScan:
		resp, err = n.serveScan(ctx, v, h, d)
	default:
		return nil, &rpc.RemoteError{Code: rpc.CodeUnknownMethod, Msg: fmt.Sprintf("store: unknown method %d", method)}
	}
	if err != nil {
		return nil, toRemote(err)
	}
	return resp, nil
}

func readToken(d *wire.Decoder) (string, error) {
	t := d.String()
	if err := d.Err(); err != nil {
		return "", err
	}
	if !validToken(t) {
		return "", ErrInvalidToken
	}
	return t, nil
}

func (n *Node) serveRead(ctx context.Context, v *view, d *wire.Decoder) ([]byte, error) {
	token, err := readToken(d)
	if err != nil {
		return nil, err
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	e, err := n.localRead(ctx, v, v.table.Partition(token), token)
	if err != nil {
		return nil, err
	}
	enc := encoderFor(1, e)
	encodeOptEntry(&enc, e)
	return enc.B, nil
}

func (n *Node) serveWrite(ctx context.Context, v *view, d *wire.Decoder) ([]byte, error) {
	token, err := readToken(d)
	if err != nil {
		return nil, err
	}
	op := decodeWriteOp(d)
	op.arrived = n.now()
	if err := d.Finish(); err != nil {
		return nil, err
	}
	e, lease, err := n.ownerWrite(ctx, v, v.table.Partition(token), token, &op)
	if err != nil {
		return nil, refusalForCaller(err)
	}
	enc := encoderFor(1+binary.MaxVarintLen64, e)
	enc.Uvarint(lease)
	encodeOptEntry(&enc, e)
	return enc.B, nil
}

// refusalForCaller is how a failed write is reported to the node that
// forwarded it. When a request this owner had to make (replicating to the
// replica, fetching from a previous holder) was never sent, or was refused
// by a peer that is shutting down, and no version of the write is stored
// anywhere (ownerWrite reports errRaced once one may be), nothing was
// applied. Sent as is, toRemote would report the peer as "unavailable",
// which the caller must count as an attempt that may have been applied: on
// a busy session its retry could then only fail with ErrUncertain. It is
// reported as errNotReady instead, a refusal at the door for every caller
// (refusedUnapplied), old builds included.
func refusalForCaller(err error) error {
	if refusedUnapplied(err) && (errors.Is(err, rpc.ErrNotSent) || errors.Is(err, errPeerGone)) {
		return fmt.Errorf("%w: nothing applied: %v", errNotReady, err)
	}
	return err
}

// serveReplicate stores an owner's new version. It is accepted only when
// this node's own view agrees that the sender owns the partition and this
// node is its replica: two nodes cannot both get writes acknowledged through
// the same replica while their views differ.
func (n *Node) serveReplicate(v *view, h header, d *wire.Decoder) ([]byte, error) {
	p := readPartition(d, len(n.parts))
	token, err := readToken(d)
	if err != nil {
		return nil, err
	}
	if p < 0 || p != v.table.Partition(token) {
		return nil, fmt.Errorf("store: replicate: bad partition %d", p)
	}
	e, err := decodeEntry(d, token)
	if err != nil {
		return nil, err
	}
	backed := d.Bool()
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if e.stub {
		return nil, fmt.Errorf("store: replicate: %w: a stub cannot be replicated", wire.ErrMalformed)
	}
	e.backed.Store(backed)
	if owner, replica := v.table.Holders(p); owner != h.from || replica != n.name {
		return nil, fmt.Errorf("%w: %s is %s's replica for partition %d, owner %s", errNotHolder, replica, owner, p, owner)
	}
	if err := n.checkQuorum(v); err != nil {
		return nil, err
	}
	part := n.parts[p]
	cur := part.get(token)
	var enc wire.Encoder
	if cur != nil && !newer(e, cur) && !(cur.version == e.version && sameContent(cur, e)) {
		encodeOptEntry(&enc, cur) // ours is newer: the owner adopts it
		return enc.B, nil
	}
	grow := int64(e.size)
	if cur != nil {
		grow -= int64(cur.size)
	}
	if err := n.reserve(grow); err != nil {
		return nil, err
	}
	part.merge(token, e, &n.used)
	n.stats.replicaWrites.Add(1)
	encodeOptEntry(&enc, nil)
	return enc.B, nil
}

// serveHandover merges the sessions a leaving member pushes (leave.go).
// Only a member may hand over, and only sessions this node holds once that
// member is gone; each merge first reserves its memory, so a handover
// cannot push the node past MaxBytes (the sender's error then says so, and
// the replica still holds what did not fit).
func (n *Node) serveHandover(v *view, h header, d *wire.Decoder) ([]byte, error) {
	list, err := decodeEntries(d)
	if err != nil {
		return nil, err
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	after, err := handoverTable(v, h.from)
	if err != nil {
		return nil, err
	}
	merged, refused := 0, 0
	defer func() {
		n.stats.handoffEntries.Add(uint64(merged))
		if refused > 0 {
			n.log.Warn("handover: refused sessions this node does not hold", "from", h.from, "refused", refused)
		}
	}()
	for _, te := range list {
		p := after.Partition(te.token)
		if o, r := after.Holders(p); o != n.name && r != n.name {
			refused++
			continue
		}
		part := n.parts[p]
		cur := part.get(te.token)
		if grow := int64(te.e.size) - int64(sizeOf(cur)); newer(te.e, cur) {
			if err := n.reserve(grow); err != nil {
				return nil, err
			}
		}
		part.merge(te.token, te.e, &n.used)
		merged++
	}
	return nil, nil
}

// handoverTable is the placement once the member from has left: where the
// sessions it hands over belong. A sender that is neither a member nor the
// member that just left is refused.
func handoverTable(v *view, from string) (*placement.Table, error) {
	switch {
	case v.table.Has(from):
		return v.table.Without(from), nil
	case v.before.Has(from):
		return v.table, nil // its departure is already in this view
	}
	return nil, fmt.Errorf("%w: handover from %q, which is not a member", errNotHolder, from)
}

func sizeOf(e *entry) int {
	if e == nil {
		return 0
	}
	return e.size
}
