package middleware

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Header byte of every stored value (the envelope around a Codec's bytes).
// It lets the compression threshold change without breaking stored sessions.
const (
	envPlain byte = 0 // the Codec's bytes follow
	envS2    byte = 1 // an S2 block of the Codec's bytes follows
)

// Compressed wraps c in the envelope the Manager stores: one header byte,
// then c's encoding, S2-compressed when it is longer than above bytes (and
// compression saves space). above < 0 never compresses.
//
// limit bounds the uncompressed encoding of one value: Encode fails with
// ErrSessionTooLarge beyond it, and Decode rejects a block whose declared
// length exceeds it before allocating, so a corrupt or hostile value cannot
// make a request allocate without bound. limit <= 0 means 256 KiB.
//
// The Manager applies Compressed(Config.Codec, Config.CompressAbove,
// Config.MaxSessionBytes) itself; adapters such as gorillastore use it to
// share the stored format.
func Compressed(c Codec, above, limit int) Codec {
	if limit <= 0 {
		limit = defaultSizeLimit
	}
	return &envelope{inner: c, above: above, limit: limit}
}

type envelope struct {
	inner Codec
	above int
	limit int
}

// Decompression buffers are reused: Codec.Decode must not retain its input.
var s2Buffers = sync.Pool{New: func() any { return new([]byte) }}

// Encode implements Codec.
func (e *envelope) Encode(v any) ([]byte, error) {
	plain, err := e.inner.Encode(v)
	if err != nil {
		return nil, err
	}
	if len(plain) > e.limit {
		return nil, fmt.Errorf("%w: value of %T encodes to %d bytes, limit %d",
			ErrSessionTooLarge, v, len(plain), e.limit)
	}
	if e.above >= 0 && len(plain) > e.above {
		buf := make([]byte, 1+s2.MaxEncodedLen(len(plain)))
		buf[0] = envS2
		enc := s2.Encode(buf[1:], plain)
		if len(enc) < len(plain) {
			return buf[:1+len(enc)], nil
		}
	}
	out := make([]byte, 1+len(plain))
	out[0] = envPlain
	copy(out[1:], plain)
	return out, nil
}

// Decode implements Codec.
func (e *envelope) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty value", ErrDecode)
	}
	switch data[0] {
	case envPlain:
		return e.inner.Decode(data[1:])
	case envS2:
		return e.decodeS2(data[1:])
	}
	return nil, fmt.Errorf("%w: unknown envelope %d", ErrDecode, data[0])
}

func (e *envelope) decodeS2(block []byte) (any, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("%w: s2: %w", ErrDecode, err)
	}
	if n > e.limit {
		return nil, fmt.Errorf("%w: value decompresses to %d bytes, limit %d", ErrDecode, n, e.limit)
	}
	bp := s2Buffers.Get().(*[]byte)
	defer s2Buffers.Put(bp)
	plain, err := s2.Decode((*bp)[:0], block)
	if err != nil {
		return nil, fmt.Errorf("%w: s2: %w", ErrDecode, err)
	}
	*bp = plain[:0]
	return e.inner.Decode(plain)
}
