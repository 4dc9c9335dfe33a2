package middleware

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type profile struct {
	Name  string
	Roles []string
}

func init() { gob.Register(profile{}) }

func TestDefaultCodecRoundTrip(t *testing.T) {
	when := time.Date(2030, 5, 6, 7, 8, 9, 10, time.FixedZone("X", 3600))
	tests := []struct {
		name string
		v    any
	}{
		{"nil", nil}, {"string", "héllo"}, {"empty string", ""}, {"bytes", []byte{0, 1, 2}},
		{"true", true}, {"false", false},
		{"int", -12345}, {"int8", int8(-8)}, {"int16", int16(300)}, {"int32", int32(-70000)},
		{"int64", int64(math.MinInt64)}, {"uint", uint(7)}, {"uint8", uint8(255)}, {"uint16", uint16(65535)},
		{"uint32", uint32(1 << 31)}, {"uint64", uint64(math.MaxUint64)},
		{"float32", float32(1.5)}, {"float64", math.Pi}, {"time", when}, {"duration", -time.Hour},
		{"gob struct", profile{Name: "ann", Roles: []string{"admin"}}},
		{"gob slice", []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := DefaultCodec{}.Encode(tc.v)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", tc.v, err)
			}
			got, err := DefaultCodec{}.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tm, ok := tc.v.(time.Time); ok {
				if !tm.Equal(got.(time.Time)) {
					t.Errorf("time = %v, want %v", got, tm)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.v) {
				t.Errorf("round trip = %#v (%T), want %#v (%T)", got, got, tc.v, tc.v)
			}
		})
	}
}

func TestDefaultCodecRejectsCorruptInput(t *testing.T) {
	tests := map[string][]byte{
		"empty":             {},
		"unknown tag":       {200},
		"short float":       {tagFloat64, 1, 2},
		"trailing varint":   {tagInt, 2, 9},
		"int8 overflow":     {tagInt8, 0x80, 0x04},
		"bad time":          {tagTime, 1},
		"garbage gob":       {tagGob, 1, 2, 3},
		"nil with payload":  {tagNil, 1},
		"uvarint too long":  {tagUint64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"bool wrong length": {tagBool, 1, 1},
	}
	for name, b := range tests {
		if v, err := (DefaultCodec{}).Decode(b); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: Decode = %#v, %v; want ErrDecode", name, v, err)
		}
	}
}

func TestOtherCodecs(t *testing.T) {
	b, err := JSONCodec{}.Encode(map[string]any{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := JSONCodec{}.Decode(b)
	if err != nil || !reflect.DeepEqual(v, map[string]any{"n": 1.0}) {
		t.Errorf("JSON round trip = %#v, %v", v, err)
	}
	if _, err := (JSONCodec{}).Decode([]byte("{")); !errors.Is(err, ErrDecode) {
		t.Errorf("JSON corrupt: %v, want ErrDecode", err)
	}
	b, err = GobCodec{}.Encode(profile{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := (GobCodec{}).Decode(b); err != nil || v.(profile).Name != "x" {
		t.Errorf("gob round trip = %#v, %v", v, err)
	}
	if _, err := (DefaultCodec{}).Encode(struct{ Unregistered int }{}); err == nil || !strings.Contains(err.Error(), "gob.Register") {
		t.Errorf("unregistered type: %v, want a hint to gob.Register", err)
	}
}

func TestCompressedEnvelope(t *testing.T) {
	c := Compressed(DefaultCodec{}, 64, 4096)
	small, _ := c.Encode("short")
	if small[0] != envPlain {
		t.Errorf("small value envelope = %d, want plain", small[0])
	}
	long := strings.Repeat("compressible ", 100)
	big, err := c.Encode(long)
	if err != nil {
		t.Fatal(err)
	}
	if big[0] != envS2 || len(big) >= len(long)/2 {
		t.Errorf("big value: envelope %d, %d bytes for %d; want S2 and smaller", big[0], len(big), len(long))
	}
	for _, b := range [][]byte{small, big} {
		if v, err := c.Decode(b); err != nil || (v != "short" && v != long) {
			t.Errorf("Decode = %.20q, %v", v, err)
		}
	}
	// The threshold may change without breaking stored values.
	if v, err := Compressed(DefaultCodec{}, -1, 4096).Decode(big); err != nil || v != long {
		t.Errorf("decode with compression off: %v", err)
	}
	if _, err := c.Encode(strings.Repeat("x", 5000)); !errors.Is(err, ErrSessionTooLarge) {
		t.Errorf("over-limit Encode = %v, want ErrSessionTooLarge", err)
	}
	bigLimit, _ := Compressed(DefaultCodec{}, 64, 1<<20).Encode(strings.Repeat("y", 10000))
	if _, err := c.Decode(bigLimit); !errors.Is(err, ErrDecode) {
		t.Errorf("decode over limit = %v, want ErrDecode before allocating", err)
	}
	corrupt := append([]byte{}, big...)
	corrupt[len(corrupt)/2] ^= 0xff
	corrupt = corrupt[:len(corrupt)-3]
	if _, err := c.Decode(corrupt); err == nil {
		t.Errorf("corrupt S2 block decoded")
	}
	incompressible := make([]byte, 200)
	for i := range incompressible {
		incompressible[i] = byte(i * 7919 >> 3)
	}
	b, _ := c.Encode(incompressible)
	if v, err := c.Decode(b); err != nil || !bytes.Equal(v.([]byte), incompressible) {
		t.Errorf("incompressible round trip: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	c := Compressed(DefaultCodec{}, 16, 1<<16)
	for _, v := range []any{"s", 1, []byte("b"), strings.Repeat("z", 100), profile{Name: "n"}} {
		b, _ := c.Encode(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = c.Decode(b) // must not panic or allocate without bound
	})
}
