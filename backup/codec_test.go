package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func testCodec(t testing.TB, secret []byte) *codec {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SecretKey = secret
	c, err := newCodec(cfg)
	if err != nil {
		t.Fatalf("newCodec: %v", err)
	}
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	compressible := bytes.Repeat([]byte("session-attribute=value;"), 200)
	cases := []struct {
		name           string
		secret         []byte
		data           []byte
		wantCompressed bool
	}{
		{"empty plain", nil, []byte{}, false},
		{"small plain", nil, []byte("hello"), false},
		{"compressible plain", nil, compressible, true},
		{"random plain", nil, randomBytes(4096), false},
		{"empty keyed", testSecret, []byte{}, false},
		{"small keyed", testSecret, []byte("hello"), false},
		{"compressible keyed", testSecret, compressible, true},
		{"random keyed", testSecret, randomBytes(4096), false},
		{"16-byte secret", testSecret[:16], compressible, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testCodec(t, tc.secret)
			key := c.storageKey("tok")
			v, err := c.encode(key, tc.data)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if got := v[3]&flagCompressed != 0; got != tc.wantCompressed {
				t.Errorf("compressed flag = %v, want %v", got, tc.wantCompressed)
			}
			if got, want := v[3]&flagEncrypted != 0, tc.secret != nil; got != want {
				t.Errorf("encrypted flag = %v, want %v", got, want)
			}
			got, err := c.decode(key, v)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("decode(encode(%d bytes)) = %d bytes, not equal", len(tc.data), len(got))
			}
		})
	}
}

func TestCodecCompressionDisabled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CompressAbove = -1
	c, err := newCodec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.encode("k", bytes.Repeat([]byte{'a'}, 10000))
	if err != nil {
		t.Fatal(err)
	}
	if v[3]&flagCompressed != 0 || len(v) != headerLen+10000 {
		t.Fatalf("CompressAbove=-1: flags %#x, len %d; want uncompressed, %d bytes", v[3], len(v), headerLen+10000)
	}
}

func TestCodecTooLarge(t *testing.T) {
	c := testCodec(t, testSecret)
	if _, err := c.encode("k", make([]byte, c.maxValue+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("encode(MaxValueSize+1) = %v, want ErrTooLarge", err)
	}
	if _, err := c.encode("k", randomBytes(c.maxItem)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("encode(incompressible MaxItemSize) = %v, want ErrTooLarge", err)
	}
	fits := c.maxItem - headerLen - saltLen - tagLen
	if _, err := c.encode("k", randomBytes(fits)); err != nil {
		t.Errorf("encode(%d random bytes, exactly MaxItemSize encoded) = %v, want nil", fits, err)
	}
}

func TestStorageKey(t *testing.T) {
	const token = "Tok3n-with-some-length-0123456789"
	plain, keyed, other := testCodec(t, nil), testCodec(t, testSecret), testCodec(t, []byte("another key, thirty-two bytes!!!"))
	keys := map[string]string{
		"plain": plain.storageKey(token),
		"keyed": keyed.storageKey(token),
		"other": other.storageKey(token),
	}
	seen := map[string]string{}
	for name, k := range keys {
		if !strings.HasPrefix(k, DefaultKeyPrefix) || len(k) != len(DefaultKeyPrefix)+43 {
			t.Errorf("%s key %q: want prefix %q and a 43-byte hash", name, k, DefaultKeyPrefix)
		}
		if strings.Contains(k, token) || !legalKeyPart(k) {
			t.Errorf("%s key %q contains the token or illegal bytes", name, k)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s keys are both %q, want distinct", name, prev, k)
		}
		seen[k] = name
	}
	if a, b := keyed.storageKey("a"), keyed.storageKey("b"); a == b {
		t.Errorf("storageKey(a) = storageKey(b) = %q", a)
	}
	if got := keyed.storageKey(token); got != keys["keyed"] {
		t.Errorf("storageKey not deterministic: %q then %q", keys["keyed"], got)
	}
}

func TestDecodeRejects(t *testing.T) {
	keyed, plain := testCodec(t, testSecret), testCodec(t, nil)
	other := testCodec(t, []byte("another key, thirty-two bytes!!!"))
	data := bytes.Repeat([]byte("abc"), 1000)
	key, otherKey := keyed.storageKey("a"), keyed.storageKey("b")
	sealed, _ := keyed.encode(key, data)
	clear, _ := plain.encode(key, data)

	cases := []struct {
		name  string
		codec *codec
		key   string
		value []byte
	}{
		{"empty", keyed, key, nil},
		{"short header", keyed, key, sealed[:5]},
		{"bad magic", keyed, key, with(sealed, 0, 'x')},
		{"future version", keyed, key, with(sealed, 2, 2)},
		{"unknown flag", keyed, key, with(sealed, 3, sealed[3]|0x80)},
		{"flipped compressed flag", keyed, key, with(sealed, 3, sealed[3]^flagCompressed)},
		{"altered length", keyed, key, with(sealed, 7, sealed[7]^1)},
		{"altered ciphertext", keyed, key, with(sealed, len(sealed)-20, sealed[len(sealed)-20]^1)},
		{"altered salt", keyed, key, with(sealed, headerLen, sealed[headerLen]^1)},
		{"truncated tag", keyed, key, sealed[:len(sealed)-1]},
		{"only salt", keyed, key, sealed[:headerLen+saltLen]},
		{"moved to another key", keyed, otherKey, sealed},
		{"other secret", other, key, sealed},
		{"encrypted without secret", plain, key, sealed},
		{"plain with secret", keyed, key, clear},
		{"plain truncated", plain, key, clear[:len(clear)-1]},
		{"plain length mismatch", plain, key, with(clear, 7, clear[7]^1)},
		{"garbage compressed", plain, key, append(header(flagCompressed, 100), 0xff, 0xff, 0xff)},
		{"decompression bomb", plain, key, bomb(plain.maxValue + 1)},
		{"compressed length lies", plain, key, append(header(flagCompressed, 10), s2.Encode(nil, make([]byte, 100))...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.codec.decode(tc.key, tc.value)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = (%d bytes, %v), want ErrCorrupt", len(got), err)
			}
		})
	}
}

// with returns a copy of b with b[i] = v.
func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func header(flags byte, rawLen uint32) []byte {
	h := []byte{magic0, magic1, formatVersion, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], rawLen)
	return h
}

// bomb is a small plain value claiming to decompress to n bytes.
func bomb(n int) []byte {
	return append(header(flagCompressed, uint32(n)), s2.Encode(nil, make([]byte, n))...)
}

// FuzzDecodeValue checks that decode never panics, only fails with
// ErrCorrupt, and that whatever decodes re-encodes to the same data.
func FuzzDecodeValue(f *testing.F) {
	plain, keyed := testCodec(f, nil), testCodec(f, testSecret)
	key := keyed.storageKey("fuzz")
	for _, c := range []*codec{plain, keyed} {
		for _, d := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("ab"), 800)} {
			v, err := c.encode(key, d)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(v)
		}
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		for _, c := range []*codec{plain, keyed} {
			got, err := c.decode(key, v)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
				}
				continue
			}
			again, err := c.encode(key, got)
			if err != nil {
				t.Fatalf("encode(decoded %d bytes): %v", len(got), err)
			}
			if back, err := c.decode(key, again); err != nil || !bytes.Equal(back, got) {
				t.Fatalf("re-encoded value does not round-trip: %v", err)
			}
		}
	})
}

func TestExpiration(t *testing.T) {
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name     string
		expiry   time.Time
		want     int32
		wantKeep bool
	}{
		{"zero never expires", time.Time{}, 0, true},
		{"in the past", now.Add(-time.Second), 0, false},
		{"exactly now", now, 0, false},
		{"1ns ahead rounds up to 1s", now.Add(time.Nanosecond), 1, true},
		{"1s ahead", now.Add(time.Second), 1, true},
		{"1.5s ahead rounds up", now.Add(1500 * time.Millisecond), 2, true},
		{"one hour", now.Add(time.Hour), 3600, true},
		{"30 days is still relative", now.Add(30 * day), maxRelative, true},
		{"30 days minus 0.5s rounds up to 30 days", now.Add(30*day - 500*time.Millisecond), maxRelative, true},
		{"30 days plus 0.5s is absolute", now.Add(30*day + 500*time.Millisecond), int32(now.Add(30*day).Unix() + 1), true},
		{"30 days plus 1s is absolute", now.Add(30*day + time.Second), int32(now.Add(30*day + time.Second).Unix()), true},
		{"31 days is absolute", now.Add(31 * day), int32(now.Add(31 * day).Unix()), true},
		{"one year is absolute", now.Add(365 * day), int32(now.Add(365 * day).Unix()), true},
		{"beyond 2038 is capped", time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt32, true},
		{"other time zone", now.In(time.FixedZone("x", 5*3600)).Add(time.Minute), 60, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, keep := expiration(tc.expiry, now)
			if got != tc.want || keep != tc.wantKeep {
				t.Fatalf("expiration(%v, %v) = (%d, %v), want (%d, %v)", tc.expiry, now, got, keep, tc.want, tc.wantKeep)
			}
		})
	}
}

// TestExpirationNeverAmbiguous checks every relative result is one memcached
// reads as relative and every absolute one lies beyond the relative range.
func TestExpirationNeverAmbiguous(t *testing.T) {
	now := time.Now()
	for d := time.Duration(1); d < 40*24*time.Hour; d = d*3/2 + time.Millisecond {
		got, keep := expiration(now.Add(d), now)
		if !keep || got <= 0 {
			t.Fatalf("expiration(now+%v) = (%d, %v), want a positive exptime", d, got, keep)
		}
		if got > maxRelative && int64(got) < now.Unix()+maxRelative {
			t.Fatalf("expiration(now+%v) = %d: absolute but within 30 days", d, got)
		}
		if got <= maxRelative && time.Duration(got)*time.Second < d {
			t.Fatalf("expiration(now+%v) = %ds: expires early", d, got)
		}
	}
}
