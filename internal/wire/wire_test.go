package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Uvarint(300)
	e.Varint(-7)
	e.Byte(9)
	e.Bool(true)
	e.Bytes([]byte("abc"))
	e.String("héllo")
	d := NewDecoder(e.B)
	if got := d.Uvarint(); got != 300 {
		t.Errorf("Uvarint = %d, want 300", got)
	}
	if got := d.Varint(); got != -7 {
		t.Errorf("Varint = %d, want -7", got)
	}
	if got := d.Byte(); got != 9 {
		t.Errorf("Byte = %d, want 9", got)
	}
	if got := d.Bool(); !got {
		t.Errorf("Bool = %v, want true", got)
	}
	if got := d.Bytes(); !bytes.Equal(got, []byte("abc")) {
		t.Errorf("Bytes = %q, want %q", got, "abc")
	}
	if got := d.String(); got != "héllo" {
		t.Errorf("String = %q, want %q", got, "héllo")
	}
	if err := d.Finish(); err != nil {
		t.Errorf("Finish = %v, want nil", err)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(d *Decoder)
	}{
		{"empty uvarint", nil, func(d *Decoder) { d.Uvarint() }},
		{"overlong length", []byte{0xff, 0xff, 0x03, 'a'}, func(d *Decoder) { d.Bytes() }},
		{"bad bool", []byte{7}, func(d *Decoder) { d.Bool() }},
		{"truncated byte", nil, func(d *Decoder) { d.Byte() }},
		{"trailing", []byte{1, 2}, func(d *Decoder) { d.Byte() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.in)
			tt.read(d)
			if err := d.Finish(); !errors.Is(err, ErrMalformed) {
				t.Errorf("Finish = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestMaxLen(t *testing.T) {
	var e Encoder
	e.Bytes(make([]byte, 100))
	d := NewDecoder(e.B)
	d.MaxLen = 10
	d.Bytes()
	if err := d.Err(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Err = %v, want ErrMalformed for length over MaxLen", err)
	}
}
