package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"sort"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/internal/stablehash"
	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// entry is one stored session version. Entries are immutable once stored:
// writers build a new entry and swap it in, so readers can use one without
// holding a lock and without copying.
//
// The small fields come first so they share one word: the struct is 112 B
// (the 112 B size class) rather than 120 B in the 128 B class.
type entry struct {
	kind    Kind
	deleted bool // tombstone: keeps the version so a stale copy cannot resurrect
	// reply: decoded from a reply frame for one API call (decodeReplyEntry),
	// never stored; its slices belong to that call's caller.
	reply bool
	// stub: the body (value, fields) was passivated; this exact version is
	// in the backup and is loaded back on demand (passivate.go).
	stub bool
	// backed is set once this exact entry is stored in the backup.
	backed  atomic.Bool
	version uint64
	value   []byte
	fields  map[string][]byte
	expiry  int64 // unix nanoseconds, 0: none; for tombstones: when to drop it
	idle    int64 // nanoseconds, 0: none
	access  int64 // unix nanoseconds of the last touch or write
	size    int   // cached accounting size
	// ops are the ids of the writes that made this version and its recent
	// predecessors; opsCut is the newest record dropped early (opid.go).
	ops    []opRecord
	opsCut int64
}

// Accounting constants: what a session costs on the heap beyond its bytes,
// measured with Go 1.26 (TestAccountingTracksHeap keeps them honest).
const (
	entryOverhead  = 152 // the entry struct (112 B), its token's allocation rounding, its slot in the partition (24 B in a small partition's slice, ~40 B in a map)
	fieldsOverhead = 48  // a field map's header
	fieldGroup     = 328 // one group of 8 slots of a field map; ceil(n/7) of them at full load
	fieldOverhead  = 16  // allocation rounding of a field's key and value
)

const opRecordSize = 24 // one remembered write id (opid.go)

func (e *entry) computeSize(token string) {
	n := entryOverhead + len(token) + len(e.value) + len(e.ops)*opRecordSize
	if len(e.fields) > 0 {
		n += fieldsOverhead + (len(e.fields)+6)/7*fieldGroup
	}
	for k, v := range e.fields {
		n += len(k) + len(v) + fieldOverhead
	}
	e.size = n
}

// clone copies e (sharing the immutable value and fields).
func (e *entry) clone() *entry {
	c := &entry{kind: e.kind, deleted: e.deleted, version: e.version, value: e.value, fields: e.fields,
		expiry: e.expiry, idle: e.idle, access: e.access, size: e.size, stub: e.stub, ops: e.ops, opsCut: e.opsCut}
	c.backed.Store(e.backed.Load())
	return c
}

// deadline is the effective expiry in unix nanoseconds; 0 means never.
func (e *entry) deadline() int64 {
	d := e.expiry
	if e.idle > 0 && e.access > 0 {
		if idle := e.access + e.idle; d == 0 || idle < d {
			d = idle
		}
	}
	return d
}

// live reports whether the entry is a readable session at now.
func (e *entry) live(now int64) bool {
	if e == nil || e.deleted {
		return false
	}
	d := e.deadline()
	return d == 0 || now < d
}

func (e *entry) record() Record {
	r := Record{Kind: e.kind, Value: e.value, Fields: e.fields, Version: e.version, Idle: time.Duration(e.idle)}
	if e.expiry != 0 {
		r.Expiry = time.Unix(0, e.expiry)
	}
	if e.access != 0 {
		r.LastAccess = time.Unix(0, e.access)
	}
	return r
}

// newer reports whether a should replace b when two copies meet (pull,
// repair, replication). Higher version wins; equal versions with different
// content (only possible after a split brain) are ordered by a content hash
// so every node picks the same winner.
func newer(a, b *entry) bool {
	if b == nil {
		return a != nil
	}
	if a == nil {
		return false
	}
	if a.version != b.version {
		return a.version > b.version
	}
	if a.stub != b.stub {
		return b.stub // the same version with its body beats a stub
	}
	if sameBody(a, b) {
		return false // the usual case: the same version from two holders
	}
	ha, hb := a.contentHash(), b.contentHash()
	return ha > hb
}

// sameBody reports whether a and b have the same encodeBody, without
// encoding them: equal bodies hash alike, so newer need not hash them.
func sameBody(a, b *entry) bool {
	return a.kind == b.kind && a.deleted == b.deleted && a.expiry == b.expiry && a.idle == b.idle &&
		bytes.Equal(a.value, b.value) && maps.EqualFunc(a.fields, b.fields, bytes.Equal)
}

func (e *entry) contentHash() uint64 {
	var enc wire.Encoder
	e.encodeBody(&enc)
	return stablehash.Bytes(enc.B)
}

// sameContent reports whether two entries carry the same session data.
func sameContent(a, b *entry) bool {
	var ea, eb wire.Encoder
	a.encodeBody(&ea)
	b.encodeBody(&eb)
	return bytes.Equal(ea.B, eb.B)
}

const (
	flagDeleted = 1 << iota
	flagStub
)

// maxEncoded bounds the bytes encode writes, so an encoder can be sized once
// rather than grown (and copied) field by field on the write and read paths.
func (e *entry) maxEncoded() int {
	n := 10*binary.MaxVarintLen64 + 4 + len(e.value) + len(e.ops)*3*binary.MaxVarintLen64
	for k, v := range e.fields {
		n += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	return n
}

// encoderFor returns an encoder with room for extra bytes and e (nil: none).
func encoderFor(extra int, e *entry) wire.Encoder {
	if e != nil {
		extra += e.maxEncoded()
	}
	return wire.Encoder{B: make([]byte, 0, extra)}
}

func (e *entry) encode(enc *wire.Encoder) {
	var flags byte
	if e.deleted {
		flags |= flagDeleted
	}
	if e.stub {
		flags |= flagStub
	}
	enc.Byte(flags)
	enc.Uvarint(e.version)
	enc.Varint(e.access)
	e.encodeBody(enc)
	encodeOps(enc, e.ops, e.opsCut)
}

// encodeBody writes everything but version and access time, in a canonical
// order (fields sorted), for hashing and comparison.
func (e *entry) encodeBody(enc *wire.Encoder) {
	enc.Byte(byte(e.kind))
	enc.Bool(e.deleted)
	enc.Varint(e.expiry)
	enc.Varint(e.idle)
	enc.Bytes(e.value)
	keys := make([]string, 0, len(e.fields))
	for k := range e.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		enc.String(k)
		enc.Bytes(e.fields[k])
	}
}

// decodeEntry reads an entry written by encode. Byte slices are copied, so
// the entry does not alias the frame it came from.
func decodeEntry(d *wire.Decoder, token string) (*entry, error) {
	return decodeEntryFormat(d, token, entryFormat, false)
}

// decodeEntryFormat reads an entry in a given backup format: format 1
// predates write ids. With alias, the entry's byte slices point into d's
// input instead of being copies: only for input the caller owns and hands
// on whole with the entry (see decodeReplyEntry).
func decodeEntryFormat(d *wire.Decoder, token string, format byte, alias bool) (*entry, error) {
	take := bytes.Clone
	if alias {
		// Decoder.Bytes caps what it returns, so an append by whoever
		// receives the slice cannot write over the bytes that follow it.
		take = func(b []byte) []byte { return b }
	}
	e := &entry{}
	flags := d.Byte()
	e.version = d.Uvarint()
	e.access = d.Varint()
	e.kind = Kind(d.Byte())
	deleted := d.Bool()
	e.expiry = d.Varint()
	e.idle = d.Varint()
	if v := d.Bytes(); len(v) > 0 {
		e.value = take(v)
	}
	n := d.Count(2)
	if n > 0 {
		e.fields = make(map[string][]byte, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		k := d.String()
		e.fields[k] = take(d.Bytes())
	}
	if format >= 2 {
		e.ops, e.opsCut = decodeOps(d)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	e.deleted = flags&flagDeleted != 0
	e.stub = flags&flagStub != 0
	if e.deleted != deleted || flags&^(flagDeleted|flagStub) != 0 || (e.stub && (len(e.value) > 0 || len(e.fields) > 0)) {
		return nil, fmt.Errorf("%w: inconsistent entry flags", wire.ErrMalformed)
	}
	if e.kind != KindBytes && e.kind != KindFields {
		return nil, fmt.Errorf("%w: unknown kind %d", wire.ErrMalformed, e.kind)
	}
	if e.idle < 0 {
		return nil, fmt.Errorf("%w: negative idle timeout", wire.ErrMalformed)
	}
	e.computeSize(token)
	return e, nil
}

// Backup value formats (the store's part of a value; package backup adds its
// own header and, with a key, seals it):
//
//	1  format, token, entry without write ids       (first release)
//	2  format, token, entry                         (V1 clusters write it)
//	3  format, entry                                (V2: no token)
//
// Every build reads all three forever. Format 3 leaves the token out: the
// backup key is derived from the token already (an HMAC of it with a key),
// and a value that carried the token handed it to anyone who can read
// memcached when the backup is unkeyed.
const (
	entryFormat        = 2 // with write ids; the newest format that holds the token
	entryFormatNoToken = 3
)

// backupFormat is the value format to write at cluster version v: format 3
// only once every member reads it.
func backupFormat(v int) byte {
	if v >= version.V2 {
		return entryFormatNoToken
	}
	return entryFormat
}

// marshalEntry encodes one entry, the unit of backup values, in format f.
func marshalEntry(token string, e *entry, f byte) []byte {
	var enc wire.Encoder
	enc.Byte(f)
	if f < entryFormatNoToken {
		enc.String(token)
	}
	e.encode(&enc)
	return enc.B
}

// unmarshalEntry decodes a backup value of any format and checks that one
// naming a token names this one.
func unmarshalEntry(token string, b []byte) (*entry, error) {
	d := wire.NewDecoder(b)
	f := d.Byte()
	if d.Err() == nil && (f < 1 || f > entryFormatNoToken) {
		return nil, fmt.Errorf("%w: unknown entry format %d", wire.ErrMalformed, f)
	}
	if f < entryFormatNoToken {
		if got := d.String(); d.Err() == nil && got != token {
			return nil, fmt.Errorf("%w: entry is for another token", wire.ErrMalformed)
		}
	}
	e, err := decodeEntryFormat(d, token, f, false)
	if err != nil {
		return nil, err
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return e, nil
}
