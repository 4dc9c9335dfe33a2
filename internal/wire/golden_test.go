package wire

import (
	"flag"
	"math"
	"testing"

	"github.com/e5b1d45c/sessring/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// TestGoldenV1 pins the primitive encodings every store message is built
// from (protocol version 1): encoding the values must give the golden
// bytes, and decoding the golden bytes must give the values.
func TestGoldenV1(t *testing.T) {
	var e Encoder
	e.Uvarint(0)
	e.Uvarint(300)
	e.Uvarint(math.MaxUint64)
	e.Varint(-1)
	e.Varint(math.MinInt64)
	e.Byte(0xA7)
	e.Bool(true)
	e.Bool(false)
	e.Bytes([]byte("sess"))
	e.Bytes(nil)
	e.String("ring")
	golden.Check(t, "testdata/v1/primitives.hex", e.B, *update)

	d := NewDecoder(golden.Read(t, "testdata/v1/primitives.hex"))
	for i, want := range []uint64{0, 300, math.MaxUint64} {
		if got := d.Uvarint(); got != want {
			t.Errorf("Uvarint #%d = %d, want %d", i, got, want)
		}
	}
	for i, want := range []int64{-1, math.MinInt64} {
		if got := d.Varint(); got != want {
			t.Errorf("Varint #%d = %d, want %d", i, got, want)
		}
	}
	if got := d.Byte(); got != 0xA7 {
		t.Errorf("Byte = %#x, want 0xa7", got)
	}
	if a, b := d.Bool(), d.Bool(); !a || b {
		t.Errorf("Bool, Bool = %v, %v; want true, false", a, b)
	}
	if got := d.Bytes(); string(got) != "sess" {
		t.Errorf("Bytes = %q, want sess", got)
	}
	if got := d.Bytes(); len(got) != 0 {
		t.Errorf("Bytes = %q, want empty", got)
	}
	if got := d.String(); got != "ring" {
		t.Errorf("String = %q, want ring", got)
	}
	if err := d.Finish(); err != nil {
		t.Errorf("Finish() = %v, want nil", err)
	}
}
