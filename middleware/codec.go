package middleware

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Codec converts one session value to bytes and back. Each key of a session
// is encoded on its own, so a value that no longer decodes (its type changed
// or was never registered with gob) is dropped alone: the rest of the session
// survives and the request does not fail.
//
// Implementations must be safe for concurrent use. Decode must not modify or
// retain data after it returns.
type Codec interface {
	Encode(v any) ([]byte, error)
	Decode(data []byte) (any, error)
}

// DefaultCodec is the default Codec. It keeps the exact Go type of common
// values, so the typed getters work after a round trip (an int stays an int,
// not a float64 as with JSON), and it falls back to gob for everything else.
//
// Format: one tag byte, then the payload. Tags are fixed forever; new types
// only add tags. string and []byte are raw bytes; signed integers and
// time.Duration are varints, unsigned ones uvarints; bool is one byte;
// floats are big-endian IEEE 754; time.Time is its MarshalBinary form; nil is
// the tag alone; other types are a gob stream of the value as an interface,
// so like scs they need gob.Register.
//
// A gob stream carries the definitions of its types, and gob compiles a
// decoding plan for them per decoder. DefaultCodec (and GobCodec) reuse
// decoders that have read a type's definitions, and encoders that have sent
// them, so a type's plan is compiled once per process; the bytes are the
// same as a fresh encoder's, so values move freely between builds.
type DefaultCodec struct{}

const (
	tagNil byte = iota + 1
	tagString
	tagBytes
	tagBool
	tagInt
	tagInt8
	tagInt16
	tagInt32
	tagInt64
	tagUint
	tagUint8
	tagUint16
	tagUint32
	tagUint64
	tagFloat32
	tagFloat64
	tagTime
	tagDuration
	tagGob
)

// Encode implements Codec.
func (DefaultCodec) Encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return []byte{tagNil}, nil
	case string:
		return append([]byte{tagString}, x...), nil
	case []byte:
		return append([]byte{tagBytes}, x...), nil
	case bool:
		return []byte{tagBool, b2u8(x)}, nil
	case float32:
		return binary.BigEndian.AppendUint32([]byte{tagFloat32}, math.Float32bits(x)), nil
	case float64:
		return binary.BigEndian.AppendUint64([]byte{tagFloat64}, math.Float64bits(x)), nil
	case time.Time:
		b, err := x.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("middleware: encode time: %w", err)
		}
		return append([]byte{tagTime}, b...), nil
	case time.Duration:
		return binary.AppendVarint([]byte{tagDuration}, int64(x)), nil
	}
	if b, ok := encodeInteger(v); ok {
		return b, nil
	}
	b, err := gobEncode(v, tagGob)
	if err != nil {
		return nil, fmt.Errorf("middleware: encode %T (gob.Register it?): %w", v, err)
	}
	return b, nil
}

func encodeInteger(v any) ([]byte, bool) {
	switch x := v.(type) {
	case int:
		return binary.AppendVarint([]byte{tagInt}, int64(x)), true
	case int8:
		return binary.AppendVarint([]byte{tagInt8}, int64(x)), true
	case int16:
		return binary.AppendVarint([]byte{tagInt16}, int64(x)), true
	case int32:
		return binary.AppendVarint([]byte{tagInt32}, int64(x)), true
	case int64:
		return binary.AppendVarint([]byte{tagInt64}, x), true
	case uint:
		return binary.AppendUvarint([]byte{tagUint}, uint64(x)), true
	case uint8:
		return binary.AppendUvarint([]byte{tagUint8}, uint64(x)), true
	case uint16:
		return binary.AppendUvarint([]byte{tagUint16}, uint64(x)), true
	case uint32:
		return binary.AppendUvarint([]byte{tagUint32}, uint64(x)), true
	case uint64:
		return binary.AppendUvarint([]byte{tagUint64}, x), true
	}
	return nil, false
}

// Decode implements Codec.
func (DefaultCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDecode)
	}
	tag, p := data[0], data[1:]
	switch tag {
	case tagNil:
		return nil, wantLen(p, 0)
	case tagString:
		return string(p), nil
	case tagBytes:
		return bytes.Clone(p), nil
	case tagBool:
		return len(p) == 1 && p[0] == 1, wantLen(p, 1)
	case tagFloat32:
		if err := wantLen(p, 4); err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(p)), nil
	case tagFloat64:
		if err := wantLen(p, 8); err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case tagTime:
		var t time.Time
		if err := t.UnmarshalBinary(p); err != nil {
			return nil, fmt.Errorf("%w: time: %w", ErrDecode, err)
		}
		return t, nil
	case tagGob:
		return gobDecode(p)
	}
	return decodeInteger(tag, p)
}

func decodeInteger(tag byte, p []byte) (any, error) {
	if tag >= tagUint && tag <= tagUint64 {
		u, n := binary.Uvarint(p)
		if n <= 0 || n != len(p) {
			return nil, fmt.Errorf("%w: bad uvarint", ErrDecode)
		}
		return narrowUint(tag, u)
	}
	i, n := binary.Varint(p)
	if n <= 0 || n != len(p) {
		return nil, fmt.Errorf("%w: tag %d: bad varint", ErrDecode, tag)
	}
	return narrowInt(tag, i)
}

func narrowInt(tag byte, i int64) (any, error) {
	switch tag {
	case tagInt:
		return fits[int](i)
	case tagInt8:
		return fits[int8](i)
	case tagInt16:
		return fits[int16](i)
	case tagInt32:
		return fits[int32](i)
	case tagInt64:
		return i, nil
	case tagDuration:
		return time.Duration(i), nil
	}
	return nil, fmt.Errorf("%w: unknown tag %d", ErrDecode, tag)
}

func narrowUint(tag byte, u uint64) (any, error) {
	switch tag {
	case tagUint:
		return fits[uint](u)
	case tagUint8:
		return fits[uint8](u)
	case tagUint16:
		return fits[uint16](u)
	case tagUint32:
		return fits[uint32](u)
	}
	return u, nil
}

// fits converts v to T, failing if the value does not survive the trip.
func fits[T int | int8 | int16 | int32 | uint | uint8 | uint16 | uint32, V int64 | uint64](v V) (any, error) {
	if t := T(v); V(t) == v {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %d overflows %T", ErrDecode, v, T(0))
}

func wantLen(p []byte, n int) error {
	if len(p) != n {
		return fmt.Errorf("%w: payload %d bytes, want %d", ErrDecode, len(p), n)
	}
	return nil
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// gobEncode writes prefix (if non-zero) and v as a gob interface value.
func gobEncode(v any, prefix byte) ([]byte, error) {
	var out []byte
	if prefix != 0 {
		out = []byte{prefix}
	}
	return streams.encode(out, v)
}

func gobDecode(p []byte) (any, error) { return streams.decode(p) }

func gobDecodeError(err error) error { return fmt.Errorf("%w: gob: %w", ErrDecode, err) }

// GobCodec encodes every value with encoding/gob as an interface value, like
// scs's GobCodec. Custom types need gob.Register.
type GobCodec struct{}

// Encode implements Codec.
func (GobCodec) Encode(v any) ([]byte, error) { return gobEncode(v, 0) }

// Decode implements Codec.
func (GobCodec) Decode(data []byte) (any, error) { return gobDecode(data) }

// JSONCodec stores values as JSON, readable by other languages and tools.
// Values decode to the generic JSON types (string, float64, bool, nil,
// []any, map[string]any), so read numbers with GetFloat64 and structs as
// maps, or prefer DefaultCodec.
type JSONCodec struct{}

// Encode implements Codec.
func (JSONCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }

// Decode implements Codec.
func (JSONCodec) Decode(data []byte) (any, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: json: %w", ErrDecode, err)
	}
	return v, nil
}
