package store

import (
	"fmt"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// Peer request methods (rpc opcodes).
const (
	mRead      uint8 = 1  // client read at the owner
	mWrite     uint8 = 2  // client write forwarded to the owner
	mReplicate uint8 = 3  // owner -> replica: one new entry
	mPull      uint8 = 4  // new holder <- source: whole partitions
	mFetch     uint8 = 5  // not-ready owner <- source: one session
	mHandover  uint8 = 6  // leaving node -> new holders: entries
	mDigest    uint8 = 7  // owner -> replica: partition digests
	mRepair    uint8 = 8  // owner <-> replica: repair one partition
	mLease     uint8 = 9  // owner -> replica: read lease
	mDepart    uint8 = 10 // leaving node -> all: graceful departure
	mPing      uint8 = 11 // heartbeat for the reachability quorum
	mScan      uint8 = 12 // any -> owner: its sessions, for All (scan.go)
)

// A member that does not know a method (an older version during a rolling
// upgrade) answers rpc.CodeUnknownMethod; new methods get new numbers, and
// callers of a method older members lack say so in their error.

// header starts every request: who sends it and the placement it used.
type header struct {
	from    string
	tableID uint64
}

func (h header) encode(e *wire.Encoder) {
	e.String(h.from)
	e.Uvarint(h.tableID)
}

func decodeHeader(d *wire.Decoder) header {
	return header{from: d.String(), tableID: d.Uvarint()}
}

type opKind uint8

const (
	opCommit opKind = iota + 1
	opApply
	opDelete
	opTouch
	opLock
	opUnlock
)

// writeOp is a client write, executed at the owner.
type writeOp struct {
	kind   opKind
	value  []byte   // opCommit
	expiry int64    // opCommit: unix nanoseconds
	mut    Mutation // opApply
	// lease is the lease to release (opUnlock), the request's nonce (opLock,
	// see lockTable), or with ttl < 0 the nonce of a lock request its
	// caller abandoned (opUnlock). A node that predates nonces ignores the
	// field on opLock and releases nothing for an abandon.
	lease uint64
	ttl   time.Duration // opLock; -1 on opUnlock: abandon
	id    opID          // the same for every attempt (opid.go)
	retry bool          // an earlier attempt may have been applied
	// age is how long before this attempt was sent the first one started;
	// arrived (local, not sent) is when this node received it. The owner
	// refuses a retry older than opRetryWindow (opid.go).
	age     time.Duration
	arrived time.Time
	// sentTo and grantedBy (local, not sent) are the addresses an opLock
	// was sent to and the one whose answer came back, for abandoning it
	// where it may linger.
	sentTo    []string
	grantedBy string
}

func (o *writeOp) encode(e *wire.Encoder) {
	e.Byte(byte(o.kind))
	e.Bytes(o.value)
	e.Varint(o.expiry)
	e.Uvarint(o.lease)
	e.Varint(int64(o.ttl))
	encodeMutation(e, &o.mut)
	e.Uvarint(o.id.Node)
	e.Uvarint(o.id.Seq)
	e.Bool(o.retry)
	e.Varint(int64(o.age))
}

func decodeWriteOp(d *wire.Decoder) writeOp {
	o := writeOp{kind: opKind(d.Byte())}
	o.value = d.Bytes()
	o.expiry = d.Varint()
	o.lease = d.Uvarint()
	o.ttl = time.Duration(d.Varint())
	o.mut = decodeMutation(d)
	o.id = opID{Node: d.Uvarint(), Seq: d.Uvarint()}
	o.retry = d.Bool()
	o.age = time.Duration(d.Varint())
	if d.Err() == nil && (o.kind < opCommit || o.kind > opUnlock) {
		d.Fail(fmt.Sprintf("unknown write op %d", o.kind))
	}
	return o
}

func encodeMutation(e *wire.Encoder, m *Mutation) {
	e.Bool(m.Clear)
	e.Uvarint(uint64(len(m.Set)))
	for k, v := range m.Set {
		e.String(k)
		e.Bytes(v)
	}
	e.Uvarint(uint64(len(m.Delete)))
	for _, k := range m.Delete {
		e.String(k)
	}
	e.Varint(unixNano(m.Expiry))
	e.Varint(int64(m.Idle))
	e.Bool(m.Touch)
	e.Bool(m.Create)
	e.Bool(m.IfExists)
	e.Uvarint(m.IfVersion)
	e.Uvarint(m.Lease)
}

func decodeMutation(d *wire.Decoder) Mutation {
	var m Mutation
	m.Clear = d.Bool()
	if n := d.Count(2); n > 0 {
		m.Set = make(map[string][]byte, n)
		for i := 0; i < n && d.Err() == nil; i++ {
			k := d.String()
			m.Set[k] = d.Bytes()
		}
	}
	if n := d.Count(1); n > 0 {
		m.Delete = make([]string, 0, n)
		for i := 0; i < n && d.Err() == nil; i++ {
			m.Delete = append(m.Delete, d.String())
		}
	}
	if ns := d.Varint(); ns != 0 {
		m.Expiry = time.Unix(0, ns)
	}
	m.Idle = time.Duration(d.Varint())
	m.Touch = d.Bool()
	m.Create = d.Bool()
	m.IfExists = d.Bool()
	m.IfVersion = d.Uvarint()
	m.Lease = d.Uvarint()
	return m
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// encodeEntries writes a list of (token, entry) pairs.
func encodeEntries(e *wire.Encoder, list []tokenEntry) {
	e.Uvarint(uint64(len(list)))
	for _, te := range list {
		e.String(te.token)
		te.e.encode(e)
	}
}

func decodeEntries(d *wire.Decoder) ([]tokenEntry, error) {
	n := d.Count(8)
	out := make([]tokenEntry, 0, n)
	for i := 0; i < n; i++ {
		tok := d.String()
		if d.Err() == nil && !validToken(tok) {
			return nil, fmt.Errorf("%w: invalid token in entry list", wire.ErrMalformed)
		}
		e, err := decodeEntry(d, tok)
		if err != nil {
			return nil, err
		}
		out = append(out, tokenEntry{tok, e})
	}
	return out, d.Err()
}

// encodeOptEntry writes a presence flag and the entry.
func encodeOptEntry(enc *wire.Encoder, e *entry) {
	enc.Bool(e != nil)
	if e != nil {
		e.encode(enc)
	}
}

func decodeOptEntry(d *wire.Decoder, token string) (*entry, error) {
	if !d.Bool() {
		return nil, d.Err()
	}
	return decodeEntry(d, token)
}

// decodeReplyEntry is decodeOptEntry for an owner's reply that goes to the
// API caller and nowhere else: the entry aliases the reply frame (which rpc
// allocated for this call alone) instead of copying the session out of it.
// Never for an entry that is stored: it would pin the whole frame.
func decodeReplyEntry(d *wire.Decoder, token string) (*entry, error) {
	if !d.Bool() {
		return nil, d.Err()
	}
	e, err := decodeEntryFormat(d, token, entryFormat, true)
	if e != nil {
		e.reply = true
	}
	return e, err
}

func encodeInts(e *wire.Encoder, ps []int) {
	e.Uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.Uvarint(uint64(p))
	}
}

func decodeInts(d *wire.Decoder, limit int) []int {
	n := d.Count(1)
	out := make([]int, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		v := d.Uvarint()
		if v >= uint64(limit) {
			d.Fail(fmt.Sprintf("partition %d out of range", v))
			return nil
		}
		out = append(out, int(v))
	}
	return out
}

// readPartition reads one partition index; an index out of [0, limit)
// fails the decoder (compared as unsigned: a huge value must not wrap
// negative) and reads as -1.
func readPartition(d *wire.Decoder, limit int) int {
	v := d.Uvarint()
	if d.Err() == nil && v >= uint64(limit) {
		d.Fail(fmt.Sprintf("partition %d out of range", v))
	}
	if d.Err() != nil {
		return -1
	}
	return int(v)
}

func validToken(t string) bool { return t != "" && len(t) <= MaxTokenLen }
