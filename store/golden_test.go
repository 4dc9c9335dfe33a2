package store

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/golden"
	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// The golden encodings of protocol version 1: the store's message parts,
// stored entries and backup units as the first release (164c29a) writes
// them. Each value encodes to its golden bytes and the golden bytes decode
// to the value. The message bodies of every peer method are pinned too and
// handed to a node's request handler, which must decode them.

const goldenToken = "golden-token-0123456789"

var goldenAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()

func goldenEntries() map[string]*entry {
	es := map[string]*entry{
		"entry-bytes": {kind: KindBytes, version: 7, value: []byte("session bytes"), expiry: goldenAt + int64(time.Hour),
			idle: int64(20 * time.Minute), access: goldenAt, ops: []opRecord{{ID: opID{Node: 0xfeed, Seq: 3}, At: goldenAt}}, opsCut: goldenAt - 1},
		"entry-fields": {kind: KindFields, version: 1 << 40, fields: map[string][]byte{"cart": []byte("3 items"), "user": []byte("ada")},
			access: goldenAt},
		"entry-tombstone": {kind: KindBytes, deleted: true, version: 9, expiry: goldenAt},
		"entry-stub":      {kind: KindFields, stub: true, version: 12, access: goldenAt},
	}
	for _, e := range es {
		e.computeSize(goldenToken)
	}
	return es
}

func TestGoldenEntriesV1(t *testing.T) {
	for name, want := range goldenEntries() {
		t.Run(name, func(t *testing.T) {
			d := checkGoldenV1(t, name, want.encode)
			got, err := decodeEntry(d, goldenToken)
			if err == nil {
				err = d.Finish()
			}
			checkEntry(t, got, err, want)
		})
	}
}

// TestGoldenBackupUnitsV1 pins the unit the store writes to its Backup (a
// format byte, the token and the entry): format 2, what the first release
// writes, and format 1, which predates write ids and is still read.
func TestGoldenBackupUnitsV1(t *testing.T) {
	want := goldenEntries()["entry-bytes"]
	var f2 wire.Encoder // what marshalEntry writes at version 1
	f2.Byte(2)
	f2.String(goldenToken)
	want.encode(&f2)
	golden.Check(t, "testdata/v1/backup-unit-format2.hex", f2.B, *update)

	old := want.clone()
	old.ops, old.opsCut = nil, 0
	old.computeSize(goldenToken)
	var enc wire.Encoder // format 1: the entry without its write ids
	enc.Byte(1)
	enc.String(goldenToken)
	enc.Byte(0)
	enc.Uvarint(old.version)
	enc.Varint(old.access)
	old.encodeBody(&enc)
	golden.Check(t, "testdata/v1/backup-unit-format1.hex", enc.B, *update)

	for path, want := range map[string]*entry{"testdata/v1/backup-unit-format2.hex": want, "testdata/v1/backup-unit-format1.hex": old} {
		got, err := unmarshalEntry(goldenToken, golden.Read(t, path))
		checkEntry(t, got, err, want)
	}
}

func checkEntry(t *testing.T, got *entry, err error, want *entry) {
	t.Helper()
	if err != nil {
		t.Fatalf("decode = %v, want %+v", err, want)
	}
	same := got.kind == want.kind && got.deleted == want.deleted && got.stub == want.stub && got.version == want.version &&
		bytes.Equal(got.value, want.value) && maps.EqualFunc(got.fields, want.fields, bytes.Equal) &&
		got.expiry == want.expiry && got.idle == want.idle && got.access == want.access &&
		slices.Equal(got.ops, want.ops) && got.opsCut == want.opsCut && got.size == want.size
	if !same {
		t.Errorf("decode = %+v, want %+v", got, want)
	}
}

func goldenWriteOps() map[string]writeOp {
	return map[string]writeOp{
		"writeop-commit": {kind: opCommit, value: []byte("v"), expiry: goldenAt, id: opID{Node: 1, Seq: 2}, age: time.Millisecond},
		"writeop-apply": {kind: opApply, id: opID{Node: 1, Seq: 3}, retry: true, mut: Mutation{Clear: true, Set: map[string][]byte{"k": []byte("v")},
			Delete: []string{"old"}, Expiry: time.Unix(0, goldenAt), Idle: time.Minute, Touch: true, Create: true, IfExists: true, IfVersion: 4, Lease: 5}},
		"writeop-delete": {kind: opDelete, id: opID{Node: 1, Seq: 4}},
		"writeop-touch":  {kind: opTouch, id: opID{Node: 1, Seq: 5}},
		"writeop-lock":   {kind: opLock, ttl: 5 * time.Second, lease: 77, id: opID{Node: 1, Seq: 6}},
		"writeop-unlock": {kind: opUnlock, lease: 78, id: opID{Node: 1, Seq: 7}},
	}
}

func TestGoldenWriteOpsV1(t *testing.T) {
	for name, want := range goldenWriteOps() {
		t.Run(name, func(t *testing.T) {
			d := checkGoldenV1(t, name, want.encode)
			got := decodeWriteOp(d)
			got.arrived = time.Time{}
			if len(got.value) == 0 {
				got.value = nil // an empty value is sent as such
			}
			if err := d.Finish(); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("decodeWriteOp(golden) = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// goldenMessage is one peer method's request and reply bodies.
type goldenMessage struct {
	method       uint8
	request      func(*wire.Encoder)
	reply        func(*wire.Encoder)
	decodeReply  func(*wire.Decoder) error
	wantReplyErr bool
}

// goldenMessages lays out each method's bodies as the first release sends
// them (see the callers of Node.call and the serve functions).
func goldenMessages() map[string]goldenMessage {
	es := goldenEntries()
	e := es["entry-bytes"]
	p := placementPartitionOf(goldenToken)
	hdr := func(enc *wire.Encoder) { header{"golden-peer", 0x1122334455667788}.encode(enc) }
	list := []tokenEntry{{goldenToken, e}, {goldenToken + "-2", es["entry-tombstone"]}}
	optEntry := func(d *wire.Decoder) error { _, err := decodeOptEntry(d, goldenToken); return err }
	entries := func(d *wire.Decoder) error { _, err := decodeEntries(d); return err }
	return map[string]goldenMessage{
		"read": {mRead, func(enc *wire.Encoder) { hdr(enc); enc.String(goldenToken) },
			func(enc *wire.Encoder) { encodeOptEntry(enc, e) }, optEntry, false},
		"write": {mWrite, func(enc *wire.Encoder) {
			hdr(enc)
			enc.String(goldenToken)
			op := goldenWriteOps()["writeop-commit"]
			op.encode(enc)
		}, func(enc *wire.Encoder) { enc.Uvarint(0); encodeOptEntry(enc, e) },
			func(d *wire.Decoder) error { d.Uvarint(); return optEntry(d) }, false},
		"replicate": {mReplicate, func(enc *wire.Encoder) {
			hdr(enc)
			enc.Uvarint(uint64(p))
			enc.String(goldenToken)
			e.encode(enc)
			enc.Bool(true)
		}, func(enc *wire.Encoder) { encodeOptEntry(enc, nil) }, optEntry, false},
		"pull": {mPull, func(enc *wire.Encoder) {
			hdr(enc)
			encodeInts(enc, []int{p, 5})
			enc.Bool(true)
			enc.Uvarint(0xd1)
			enc.Bool(false)
			enc.Uvarint(0)
		}, func(enc *wire.Encoder) {
			encodeEntries(enc, list)
			encodeInts(enc, []int{p, 5})
			encodeInts(enc, []int{p})
		}, func(d *wire.Decoder) error {
			if err := entries(d); err != nil {
				return err
			}
			decodeInts(d, 2048)
			decodeInts(d, 2048)
			return nil
		}, false},
		"pullkey": {mFetch, func(enc *wire.Encoder) { hdr(enc); enc.String(goldenToken) },
			func(enc *wire.Encoder) { encodeOptEntry(enc, e); enc.Bool(true) },
			func(d *wire.Decoder) error { err := optEntry(d); d.Bool(); return err }, false},
		"handover": {mHandover, func(enc *wire.Encoder) { hdr(enc); encodeEntries(enc, list) },
			func(*wire.Encoder) {}, func(*wire.Decoder) error { return nil }, false},
		"digest": {mDigest, func(enc *wire.Encoder) {
			hdr(enc)
			enc.Uvarint(2)
			enc.Uvarint(uint64(p))
			enc.Uvarint(0xd1)
			enc.Uvarint(5)
			enc.Uvarint(0)
		}, func(enc *wire.Encoder) { encodeInts(enc, []int{5}) },
			func(d *wire.Decoder) error { decodeInts(d, 2048); return nil }, false},
		"sync": {mRepair, func(enc *wire.Encoder) { hdr(enc); enc.Uvarint(uint64(p)); encodeEntries(enc, list[:1]) },
			func(enc *wire.Encoder) { encodeEntries(enc, list[1:]) }, entries, false},
		"lease":  {mLease, hdr, func(enc *wire.Encoder) { encodeEntries(enc, list) }, entries, false},
		"depart": {mDepart, hdr, func(*wire.Encoder) {}, func(*wire.Decoder) error { return nil }, false},
		"ping":   {mPing, hdr, func(*wire.Encoder) {}, func(*wire.Decoder) error { return nil }, false},
	}
}

// TestGoldenMessagesV1 pins the request and reply body of every peer
// method of the first release, and hands each golden request to a node's
// request handler: it may refuse the request (the sender is no member),
// but it must decode it.
func TestGoldenMessagesV1(t *testing.T) {
	c := newTestCluster(t, 1)
	n := c.Nodes()[0]
	for name, m := range goldenMessages() {
		t.Run(name, func(t *testing.T) {
			var req, rep wire.Encoder
			m.request(&req)
			m.reply(&rep)
			golden.Check(t, "testdata/v1/request-"+name+".hex", req.B, *update)
			golden.Check(t, "testdata/v1/reply-"+name+".hex", rep.B, *update)

			d := wire.NewDecoder(golden.Read(t, "testdata/v1/reply-"+name+".hex"))
			err := m.decodeReply(d)
			if err == nil {
				err = d.Finish()
			}
			if err != nil {
				t.Errorf("decoding the golden reply: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err = n.serveRPC(ctx, m.method, golden.Read(t, "testdata/v1/request-"+name+".hex"))
			t.Logf("the node answered the golden request: %v", err)
			var re *rpc.RemoteError
			if errors.Is(err, wire.ErrMalformed) || (errors.As(err, &re) && strings.Contains(re.Msg, "malformed")) {
				t.Errorf("serveRPC(golden %s request) = %v, want it decoded", name, err)
			}
		})
	}
}

func TestGoldenPartsV1(t *testing.T) {
	var enc wire.Encoder
	header{"node-a", 0x1122334455667788}.encode(&enc)
	encodeInts(&enc, []int{0, 1, 2047})
	encodeOptEntry(&enc, nil)
	golden.Check(t, "testdata/v1/parts.hex", enc.B, *update)

	d := wire.NewDecoder(golden.Read(t, "testdata/v1/parts.hex"))
	h := decodeHeader(d)
	ps := decodeInts(d, 2048)
	e, err := decodeOptEntry(d, goldenToken)
	if err == nil {
		err = d.Finish()
	}
	if h != (header{"node-a", 0x1122334455667788}) || !slices.Equal(ps, []int{0, 1, 2047}) || e != nil || err != nil {
		t.Errorf("decode(golden parts) = %+v, %v, %v, %v; want node-a's header, [0 1 2047], no entry, nil", h, ps, e, err)
	}
}

// checkGoldenV1 compares what encode writes with testdata/v1/name.hex (or
// rewrites it under -update) and returns a decoder of the stored bytes.
func checkGoldenV1(t *testing.T, name string, encode func(*wire.Encoder)) *wire.Decoder {
	t.Helper()
	path := "testdata/v1/" + name + ".hex"
	var enc wire.Encoder
	encode(&enc)
	golden.Check(t, path, enc.B, *update)
	return wire.NewDecoder(golden.Read(t, path))
}
