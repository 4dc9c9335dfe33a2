package middleware

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"reflect"
	"sync"
)

// Gob streams, compiled once.
//
// DefaultCodec stores a value it has no tag for as a complete gob stream:
// the definitions of the value's types, then one message with the value.
// A new gob.Decoder compiles a decoding plan for each type it is sent, so
// decoding every value with a fresh one spent most of its time compiling
// (gob's compileDec was a quarter of the CPU of a request reading a small
// map). gob keeps what it compiled per Decoder, for the types defined
// earlier in the same stream; so does an Encoder for the definitions it
// has sent.
//
// gobStreams keeps, for each run of type definitions it has seen, decoders
// that have already read exactly those definitions, and hands them only the
// value message of a stream that starts with the same definitions; and for
// each Go type, encoders that have already sent its definitions, whose value
// message it appends to the definitions a fresh encoder sends. The bytes
// written are the same as a fresh encoder's, so this is not a new format:
// any build reads them, and an unchanged value still encodes to the bytes
// it was stored with.
//
// Where reuse could change a result it is not used: a type that can hold an
// interface value anywhere (whose nested definitions a gob stream sends
// only once) is encoded by a fresh encoder each time, and a reused decoder
// that fails (for instance because the value message defines a nested type
// it has already seen) is dropped, the stream is decoded by a fresh decoder
// as before, and its run of definitions is not cached again.
type gobStreams struct {
	// encoders holds a *gobEncoders for each concrete type seen, or nil
	// for a type whose encoding depends on the stream (it holds interfaces).
	encoders sync.Map // reflect.Type -> *gobEncoders

	mu sync.RWMutex // guards decoders
	// decoders holds, by run of type definitions, decoders that have read
	// it; nil for a run whose reuse failed once.
	decoders map[string]*sync.Pool
}

// maxGobRuns bounds the runs of definitions cached, so values of ever new
// types (or forged definitions) cannot grow the cache without limit.
const maxGobRuns = 1024

// streams is shared by every DefaultCodec: like gob's own type registry and
// compiled encoders, what it holds depends only on the types and the
// gob.Register calls of this process.
var streams = &gobStreams{decoders: map[string]*sync.Pool{}}

// primedEncoder is a gob encoder and the buffer it writes to.
type primedEncoder struct {
	buf bytes.Buffer
	enc *gob.Encoder
}

func newPrimedEncoder() *primedEncoder {
	p := &primedEncoder{}
	p.enc = gob.NewEncoder(&p.buf)
	return p
}

// encode appends the gob stream of v as an interface value to out, the same
// bytes as gob.NewEncoder(w).Encode(&v) writes.
func (g *gobStreams) encode(out []byte, v any) ([]byte, error) {
	t := reflect.TypeOf(v)
	if t == nil {
		return freshEncode(out, v)
	}
	e := g.encodersFor(t)
	if e == nil {
		return freshEncode(out, v)
	}
	if p, _ := e.pool.Get().(*primedEncoder); p != nil {
		p.buf.Reset()
		if err := p.enc.Encode(&v); err == nil {
			if s, ok := parseGobStream(p.buf.Bytes()); ok && s.primed() && bytes.Equal(s.head, e.defs.head) {
				out = append(out, e.defs.prefix...)
				out = appendGobUint(out, uint64(len(s.last)))
				out = append(out, s.last...)
				e.pool.Put(p)
				return out, nil
			}
		}
		// An encoder that failed or sent more than the value is not reused.
	}
	p := newPrimedEncoder()
	if err := p.enc.Encode(&v); err != nil {
		return nil, err
	}
	stream := p.buf.Bytes()
	out = append(out, stream...) // before p can be pooled and reused
	s, ok := parseGobStream(stream)
	if ok && !s.primed() {
		e.once.Do(func() { e.defs = s.clone() })
		if bytes.Equal(s.prefix, e.defs.prefix) && bytes.Equal(s.head, e.defs.head) {
			e.pool.Put(p)
		}
	}
	return out, nil
}

// gobEncoders is the encoders of one concrete type that have sent its
// definitions, and the stream a fresh encoder starts with.
type gobEncoders struct {
	once sync.Once
	defs gobStream // set once, from the first fresh encoding
	pool sync.Pool
}

// encodersFor returns the encoders of t, or nil if t's encoding depends on
// the stream.
func (g *gobStreams) encodersFor(t reflect.Type) *gobEncoders {
	if e, ok := g.encoders.Load(t); ok {
		return e.(*gobEncoders)
	}
	var e *gobEncoders
	if !holdsInterface(t, map[reflect.Type]bool{}) {
		e = &gobEncoders{}
	}
	actual, _ := g.encoders.LoadOrStore(t, e)
	return actual.(*gobEncoders)
}

// holdsInterface reports whether a value of type t can contain an interface
// value anywhere (conservatively: unexported fields count too).
func holdsInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem(), seen)
	case reflect.Map:
		return holdsInterface(t.Key(), seen) || holdsInterface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsInterface(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

func freshEncode(out []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(out)
	if err := gob.NewEncoder(buf).Encode(&v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// primedDecoder is a gob decoder and the reader it reads from.
type primedDecoder struct {
	r   bytes.Reader
	dec *gob.Decoder
	msg []byte // scratch for the value message in primed form
}

func newPrimedDecoder() *primedDecoder {
	p := &primedDecoder{}
	p.dec = gob.NewDecoder(&p.r) // bytes.Reader is an io.ByteReader: no buffering
	return p
}

// decode decodes the gob stream p of an interface value, as
// gob.NewDecoder(bytes.NewReader(p)).Decode(&v) does.
func (g *gobStreams) decode(p []byte) (any, error) {
	s, ok := parseGobStream(p)
	if !ok || s.primed() {
		return freshDecode(p) // nothing to compile ahead, or left to gob to judge
	}
	g.mu.RLock()
	pool, known := g.decoders[string(s.prefix)]
	g.mu.RUnlock()
	if pool != nil {
		if d, _ := pool.Get().(*primedDecoder); d != nil {
			d.msg = s.appendPrimed(d.msg[:0])
			d.r.Reset(d.msg)
			var v any
			if err := d.dec.Decode(&v); err == nil && d.r.Len() == 0 {
				pool.Put(d)
				return v, nil
			}
			g.disable(s.prefix) // reuse failed: decode afresh from now on
			return freshDecode(p)
		}
	}
	d := newPrimedDecoder()
	d.r.Reset(p)
	var v any
	if err := d.dec.Decode(&v); err != nil {
		return nil, gobDecodeError(err)
	}
	if (!known || pool != nil) && len(p)-d.r.Len() == s.size {
		g.keep(s.prefix, d)
	}
	return v, nil
}

// keep pools d, which has read the definitions in prefix, unless the cache
// is full.
func (g *gobStreams) keep(prefix []byte, d *primedDecoder) {
	g.mu.Lock()
	pool, known := g.decoders[string(prefix)]
	if !known && len(g.decoders) < maxGobRuns {
		pool = &sync.Pool{}
		g.decoders[string(prefix)] = pool
	}
	g.mu.Unlock()
	if pool != nil {
		pool.Put(d)
	}
}

// disable stops reusing decoders for prefix.
func (g *gobStreams) disable(prefix []byte) {
	g.mu.Lock()
	g.decoders[string(prefix)] = nil
	g.mu.Unlock()
}

func freshDecode(p []byte) (any, error) {
	var v any
	if err := gob.NewDecoder(bytes.NewReader(p)).Decode(&v); err != nil {
		return nil, gobDecodeError(err)
	}
	return v, nil
}

// gobStream is the layout of a gob stream of one interface value. A fresh
// encoder sends the value's type definitions inside it:
//
//	message 1:   interface type id, 0, name, first definition
//	messages 2+: further definitions
//	last:        concrete type id, length, value
//
// An encoder that has sent the definitions before sends one message:
// interface type id, 0, name, concrete type id, length, value. That is the
// primed form, which a decoder that has read the definitions accepts.
type gobStream struct {
	prefix []byte // everything before the last message (fresh form); nil when primed
	head   []byte // interface type id, 0, name: the start of message 1's body
	last   []byte // concrete type id, length, value: the last message's body
	size   int    // bytes of the stream up to the end of the last message
}

func (s gobStream) primed() bool { return s.prefix == nil }

func (s gobStream) clone() gobStream {
	return gobStream{prefix: bytes.Clone(s.prefix), head: bytes.Clone(s.head), last: nil, size: s.size}
}

// appendPrimed appends the stream's value in primed form to b.
func (s gobStream) appendPrimed(b []byte) []byte {
	b = appendGobUint(b, uint64(len(s.head)+len(s.last)))
	return append(append(b, s.head...), s.last...)
}

// parseGobStream finds the parts of a gob stream of one non-nil interface
// value. ok is false when p does not have that layout (gob then judges it).
func parseGobStream(p []byte) (s gobStream, ok bool) {
	body, off, ok := gobMessage(p, 0)
	if !ok {
		return s, false
	}
	// Message 1: the interface's type id (non-negative), singleton field 0,
	// the concrete type's name.
	id, w1 := gobUint(body)
	delta, w2 := gobUint(body[w1:])
	if w1 == 0 || id&1 != 0 || w2 == 0 || delta != 0 {
		return s, false
	}
	n, w3 := gobUint(body[w1+w2:])
	h := w1 + w2 + w3
	if w3 == 0 || n == 0 || uint64(len(body)-h) < n {
		return s, false
	}
	s.head = body[:h+int(n)]
	rest := body[h+int(n):]
	if id, w := gobUint(rest); w == 0 || id&1 == 0 {
		// No definitions: the stream is one message in primed form.
		s.last, s.size = rest, off
		return s, w != 0
	}
	for off < len(p) {
		start := off
		if body, off, ok = gobMessage(p, off); !ok {
			return s, false
		}
		if id, w := gobUint(body); w != 0 && id&1 == 0 {
			s.prefix, s.last, s.size = p[:start], body, off
			return s, true
		}
	}
	return s, false
}

// gobMessage returns the body of the message at p[off:] and the offset
// after it.
func gobMessage(p []byte, off int) (body []byte, end int, ok bool) {
	n, w := gobUint(p[off:])
	if w == 0 || n == 0 || uint64(len(p)-off-w) < n {
		return nil, 0, false
	}
	end = off + w + int(n)
	return p[off+w : end], end, true
}

// gobUint decodes one of gob's unsigned integers: a byte below 0x80 is the
// value; otherwise its negation is the count of big-endian bytes that
// follow. w is 0 if p is too short or malformed.
func gobUint(p []byte) (x uint64, w int) {
	if len(p) == 0 {
		return 0, 0
	}
	if p[0] <= 0x7f {
		return uint64(p[0]), 1
	}
	n := -int(int8(p[0]))
	if n > 8 || len(p) < 1+n {
		return 0, 0
	}
	for _, b := range p[1 : 1+n] {
		x = x<<8 | uint64(b)
	}
	return x, 1 + n
}

// appendGobUint appends x in gob's unsigned integer encoding.
func appendGobUint(b []byte, x uint64) []byte {
	if x <= 0x7f {
		return append(b, byte(x))
	}
	var tmp [8]byte
	binary.BigEndian.PutUint64(tmp[:], x)
	i := 0
	for i < 7 && tmp[i] == 0 {
		i++
	}
	b = append(b, byte(-(8 - i)))
	return append(b, tmp[i:]...)
}
