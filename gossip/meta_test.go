package gossip_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/e5b1d45c/sessring/gossip"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta gossip.Meta
		size int
	}{
		{"zero", gossip.Meta{}, 10},
		{"typical", gossip.Meta{RPCAddr: "10.0.0.7:7947", Incarnation: 0x1122334455667788}, 23},
		{"ipv6", gossip.Meta{RPCAddr: "[fd00::1]:7947", Incarnation: 1}, 24},
		{"max incarnation", gossip.Meta{RPCAddr: "h:1", Incarnation: math.MaxUint64}, 13},
		{"longest address", gossip.Meta{RPCAddr: strings.Repeat("a", gossip.MaxRPCAddrLen-2) + ":1"}, 10 + gossip.MaxRPCAddrLen},
		{"versions", gossip.Meta{RPCAddr: "h:1", Incarnation: 1, MinVersion: 1, MaxVersion: 2}, 15},
		{"longest with versions", gossip.Meta{RPCAddr: strings.Repeat("a", gossip.MaxRPCAddrLen-2) + ":1", MinVersion: 255, MaxVersion: 255}, 12 + gossip.MaxRPCAddrLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.meta.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary(%+v) error = %v", tt.meta, err)
			}
			if len(b) != tt.size || len(b) > memberlist.MetaMaxSize {
				t.Errorf("MarshalBinary(%+v) is %d bytes, want %d (<= %d)", tt.meta, len(b), tt.size, memberlist.MetaMaxSize)
			}
			var got gossip.Meta
			if err := got.UnmarshalBinary(b); err != nil || got != tt.meta {
				t.Errorf("UnmarshalBinary(MarshalBinary(%+v)) = %+v, %v, want the same, nil", tt.meta, got, err)
			}
		})
	}
}

func TestMetaMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		meta gossip.Meta
	}{
		{"address too long", gossip.Meta{RPCAddr: strings.Repeat("a", gossip.MaxRPCAddrLen) + ":1"}},
		{"not utf-8", gossip.Meta{RPCAddr: "\xff:1"}},
		{"no port", gossip.Meta{RPCAddr: "10.0.0.1"}},
		{"only MaxVersion", gossip.Meta{MaxVersion: 2}},
		{"versions reversed", gossip.Meta{MinVersion: 2, MaxVersion: 1}},
		{"version above 255", gossip.Meta{MinVersion: 1, MaxVersion: 256}},
	}
	for _, tt := range tests {
		if _, err := tt.meta.MarshalBinary(); !errors.Is(err, gossip.ErrBadMeta) {
			t.Errorf("%s: MarshalBinary() error = %v, want ErrBadMeta", tt.name, err)
		}
	}
}

// encode builds a raw encoding: version, incarnation 7, length byte, body.
func encode(version byte, addrLen byte, body string) []byte {
	return append([]byte{version, 0, 0, 0, 0, 0, 0, 0, 7, addrLen}, body...)
}

func TestMetaUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"nil", nil, "empty"},
		{"version 0", encode(0, 0, ""), "unknown version 0"},
		{"truncated header", []byte{1, 0, 0}, "truncated header"},
		{"truncated address", encode(1, 5, "h:1"), "truncated address"},
		{"trailing bytes in v1", encode(1, 3, "h:1x"), "trailing bytes"},
		{"oversized", encode(2, 3, "h:1"+strings.Repeat("x", 600)), "exceed"},
		{"not utf-8", encode(1, 3, "\xff:1"), "not UTF-8"},
		{"not host:port", encode(1, 3, "abc"), "RPCAddr"},
		{"v2 without versions", encode(2, 3, "h:1"), "truncated protocol versions"},
		{"v2 versions reversed", encode(2, 3, "h:1\x02\x01"), "protocol versions 2..1"},
		{"v2 version 0", encode(2, 3, "h:1\x00\x01"), "protocol versions 0..1"},
		{"trailing bytes in v2", encode(2, 3, "h:1\x01\x02x"), "trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := gossip.Meta{RPCAddr: "keep:1", Incarnation: 9}
			err := m.UnmarshalBinary(tt.in)
			if !errors.Is(err, gossip.ErrBadMeta) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("UnmarshalBinary(%q) error = %v, want ErrBadMeta mentioning %q", tt.in, err, tt.msg)
			}
			if m != (gossip.Meta{RPCAddr: "keep:1", Incarnation: 9}) {
				t.Errorf("UnmarshalBinary(%q) changed the Meta to %+v on error, want it untouched", tt.in, m)
			}
		})
	}
}

func TestMetaUnmarshalNewerVersion(t *testing.T) {
	var m gossip.Meta
	if err := m.UnmarshalBinary(encode(3, 3, "h:1\x02\x03+extension")); err != nil {
		t.Fatalf("UnmarshalBinary(version 3 with an extension) error = %v, want nil (forward compatible)", err)
	}
	if want := (gossip.Meta{RPCAddr: "h:1", Incarnation: 7, MinVersion: 2, MaxVersion: 3}); m != want {
		t.Errorf("UnmarshalBinary(version 3) = %+v, want %+v", m, want)
	}
}

func TestMetaVersions(t *testing.T) {
	for _, tc := range []struct {
		meta   gossip.Meta
		lo, hi int
	}{
		{gossip.Meta{}, 1, 1}, // a node of the first release
		{gossip.Meta{MinVersion: 1, MaxVersion: 2}, 1, 2},
	} {
		if lo, hi := tc.meta.Versions(); lo != tc.lo || hi != tc.hi {
			t.Errorf("%+v.Versions() = %d, %d; want %d, %d", tc.meta, lo, hi, tc.lo, tc.hi)
		}
	}
}

// FuzzMetaUnmarshal checks that decoding never panics and that whatever
// decodes re-encodes to a stable form.
func FuzzMetaUnmarshal(f *testing.F) {
	f.Add(encode(1, 3, "h:1"))
	f.Add(encode(2, 3, "h:1\x01\x02"))
	f.Add(encode(3, 3, "h:1\x01\x02tail"))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var m gossip.Meta
		if err := m.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, gossip.ErrBadMeta) {
				t.Fatalf("UnmarshalBinary(%q) error = %v, want ErrBadMeta", in, err)
			}
			return
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%+v) error = %v after it decoded", m, err)
		}
		if in[0] <= 2 && !bytes.Equal(b, in) {
			t.Fatalf("MarshalBinary(UnmarshalBinary(%q)) = %q, want the input back", in, b)
		}
		var again gossip.Meta
		if err := again.UnmarshalBinary(b); err != nil || again != m {
			t.Fatalf("round trip of %q = %+v, %v, want %+v, nil", in, again, err, m)
		}
	})
}
