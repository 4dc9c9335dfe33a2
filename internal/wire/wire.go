package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding failure.
var ErrMalformed = errors.New("wire: malformed message")

// Encoder appends values to a byte slice. The zero value is ready to use.
type Encoder struct {
	B []byte
}

// Uvarint appends an unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Varint appends a signed (zig-zag) varint.
func (e *Encoder) Varint(v int64) { e.B = binary.AppendVarint(e.B, v) }

// Byte appends one byte.
func (e *Encoder) Byte(v byte) { e.B = append(e.B, v) }

// Bool appends a boolean as one byte.
func (e *Encoder) Bool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// Bytes appends a length-prefixed byte slice.
func (e *Encoder) Bytes(v []byte) {
	e.Uvarint(uint64(len(v)))
	e.B = append(e.B, v...)
}

// String appends a length-prefixed string.
func (e *Encoder) String(v string) {
	e.Uvarint(uint64(len(v)))
	e.B = append(e.B, v...)
}

// Decoder reads values written by an Encoder. Its error is sticky.
type Decoder struct {
	b   []byte
	err error
	// MaxLen bounds any single length prefix (bytes, strings, counts).
	// Zero means len(input).
	MaxLen int
}

// NewDecoder returns a decoder over b. Decoded byte slices alias b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first decoding error, if any.
func (d *Decoder) Err() error { return d.err }

// Len reports how many bytes are left.
func (d *Decoder) Len() int { return len(d.b) }

// Fail records a semantic error found by the caller (an unknown enum value,
// an out-of-range index) so it is reported like any decoding error.
func (d *Decoder) Fail(what string) { d.fail(what) }

func (d *Decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.b = nil
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads a boolean; any byte other than 0 or 1 is malformed.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

// Count reads a length or element count and checks it against the remaining
// input (each element needs at least minSize bytes) and MaxLen.
func (d *Decoder) Count(minSize int) int {
	v := d.Uvarint()
	if d.err != nil {
		return 0
	}
	limit := uint64(len(d.b))
	if minSize > 1 {
		limit /= uint64(minSize)
	}
	if minSize == 0 {
		limit = uint64(len(d.b)) + 1<<16
	}
	if d.MaxLen > 0 && uint64(d.MaxLen) < limit {
		limit = uint64(d.MaxLen)
	}
	if v > limit {
		d.fail(fmt.Sprintf("length %d exceeds limit %d", v, limit))
		return 0
	}
	return int(v)
}

// Bytes reads a length-prefixed byte slice aliasing the input.
func (d *Decoder) Bytes() []byte {
	n := d.Count(1)
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// String reads a length-prefixed string (copied).
func (d *Decoder) String() string { return string(d.Bytes()) }

// Finish reports an error if input is left over or decoding failed.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}
