package backup

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
)

// Value format, version 1 (all integers big endian):
//
//	offset  size  field
//	0       2     magic "sR"
//	2       1     format version, 1
//	3       1     flags: flagCompressed | flagEncrypted; other bits must be 0
//	4       4     length of the original value
//	8       ...   payload
//
// A plain payload is the value, S2-compressed when flagCompressed is set.
// An encrypted payload is salt (16 random bytes) followed by the AES-256-GCM
// sealing of that same (maybe compressed) value. The GCM key and nonce are
// HKDF-SHA256(aeadKey, salt, infoValue), a fresh pair per value, so no nonce
// budget limits how many values one SecretKey may encrypt. The additional
// data is the 8-byte header followed by the memcached key, so neither the
// flags nor the key a value is stored under can be altered undetected.
const (
	magic0, magic1 = 's', 'R'
	formatVersion  = 1
	headerLen      = 8
	flagCompressed = 1 << 0
	flagEncrypted  = 1 << 1
	knownFlags     = flagCompressed | flagEncrypted
	saltLen        = 16
	tagLen         = 16
	maxRawLen      = 1 << 30 // MaxValueSize limit; keeps S2 and the uint32 header in range

	infoRoot  = "sessring backup v1"       // SecretKey -> aeadKey || macKey
	infoValue = "sessring backup v1 value" // aeadKey + salt -> GCM key || nonce
	gcmKeyLen = 32
	nonceLen  = 12
)

// codec turns tokens into memcached keys and values into stored bytes.
// It is immutable and safe for concurrent use.
type codec struct {
	prefix        string
	aeadKey       []byte // nil: values are stored unencrypted
	macKey        []byte // nil: keys are SHA-256(token)
	compressAbove int    // negative: never compress
	maxItem       int
	maxValue      int

	// old holds one codec per Config.OldSecretKeys entry: values written
	// under an earlier key are still read, and removed when the token is
	// written or deleted under the current one.
	old []*codec
	all []*codec // this codec, then old: the order Get tries them in
}

// newCodec derives the keys from cfg.SecretKey and one codec per
// cfg.OldSecretKeys entry; cfg has its defaults applied.
func newCodec(cfg Config) (*codec, error) {
	c, err := keyedCodec(cfg, cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	seen := [][]byte{cfg.SecretKey}
	for _, k := range cfg.OldSecretKeys {
		// The current key listed again (rotation step 2 with the new key
		// left here from step 1) would make every Put delete what it just
		// wrote: each key is used once, the current one as current.
		if slices.ContainsFunc(seen, func(s []byte) bool { return bytes.Equal(s, k) }) {
			continue
		}
		seen = append(seen, k)
		o, err := keyedCodec(cfg, k)
		if err != nil {
			return nil, err
		}
		c.old = append(c.old, o)
	}
	c.all = append([]*codec{c}, c.old...)
	return c, nil
}

// keyedCodec is the codec of one secret (none: plain values, hashed keys).
func keyedCodec(cfg Config, secret []byte) (*codec, error) {
	c := &codec{
		prefix:        cfg.KeyPrefix,
		compressAbove: cfg.CompressAbove,
		maxItem:       cfg.MaxItemSize,
		maxValue:      cfg.MaxValueSize,
	}
	if len(secret) == 0 {
		return c, nil
	}
	k, err := hkdf.Key(sha256.New, secret, nil, infoRoot, 2*gcmKeyLen)
	if err != nil {
		return nil, fmt.Errorf("backup: derive keys: %w", err)
	}
	c.aeadKey, c.macKey = k[:gcmKeyLen], k[gcmKeyLen:]
	return c, nil
}

// storageKey maps a token to its memcached key: the prefix and the
// unpadded base64url of HMAC-SHA256(macKey, token), or of SHA-256(token)
// without a key. The token itself never reaches memcached.
func (c *codec) storageKey(token string) string {
	var sum []byte
	if c.macKey != nil {
		m := hmac.New(sha256.New, c.macKey)
		m.Write([]byte(token))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(token))
		sum = s[:]
	}
	return c.prefix + base64.RawURLEncoding.EncodeToString(sum)
}

// encode builds the stored bytes for data under the memcached key. The
// result is built in one buffer: compression writes into it and GCM seals
// in place.
func (c *codec) encode(key string, data []byte) ([]byte, error) {
	if len(data) > c.maxValue {
		return nil, fmt.Errorf("%w: value of %d bytes exceeds MaxValueSize %d", ErrTooLarge, len(data), c.maxValue)
	}
	pre, post, flags := headerLen, 0, byte(0)
	if c.aeadKey != nil {
		pre, post, flags = headerLen+saltLen, tagLen, flagEncrypted
	}
	out := c.compress(data, pre, post)
	if out != nil {
		flags |= flagCompressed
	} else {
		out = append(make([]byte, pre, pre+len(data)+post), data...)
	}
	putHeader(out, flags, len(data))
	if c.aeadKey != nil {
		salt := out[headerLen:pre]
		_, _ = rand.Read(salt) // never fails since Go 1.24
		aead, nonce, err := c.valueAEAD(salt)
		if err != nil {
			return nil, err
		}
		out = aead.Seal(out[:pre], nonce, out[pre:], additionalData(out[:headerLen], key))
	}
	if len(out) > c.maxItem {
		return nil, fmt.Errorf("%w: encoded value of %d bytes exceeds MaxItemSize %d", ErrTooLarge, len(out), c.maxItem)
	}
	return out, nil
}

// compress returns pre spare bytes, the S2 block of data and room for post
// more bytes, or nil when compression is off, data is small, or S2 does not
// make it smaller. S2's fast mode compresses typical session data within a
// few percent of its "better" mode at about three times the speed.
func (c *codec) compress(data []byte, pre, post int) []byte {
	if c.compressAbove < 0 || len(data) <= c.compressAbove {
		return nil
	}
	buf := make([]byte, pre, pre+s2.MaxEncodedLen(len(data))+post)
	z := s2.Encode(buf[pre:], data)
	if len(z) >= len(data) {
		return nil
	}
	return append(buf, z...) // z normally lies in buf already; then this copy is in place
}

func putHeader(b []byte, flags byte, rawLen int) {
	b[0], b[1], b[2], b[3] = magic0, magic1, formatVersion, flags
	binary.BigEndian.PutUint32(b[4:headerLen], uint32(rawLen))
}

// decode reverses encode. Anything malformed, unauthenticated, encrypted
// with another key, stored under another key, or (with a SecretKey)
// unencrypted fails with ErrCorrupt. The result may alias v.
func (c *codec) decode(key string, v []byte) ([]byte, error) {
	if len(v) < headerLen || v[0] != magic0 || v[1] != magic1 {
		return nil, corrupt("bad magic")
	}
	if v[2] != formatVersion {
		return nil, corrupt("unknown format version %d", v[2])
	}
	flags := v[3]
	if flags&^knownFlags != 0 {
		return nil, corrupt("unknown flags %#x", flags)
	}
	rawLen := int64(binary.BigEndian.Uint32(v[4:headerLen]))
	if rawLen > int64(c.maxValue) {
		return nil, corrupt("value of %d bytes exceeds MaxValueSize %d", rawLen, c.maxValue)
	}
	body, err := c.open(key, v, flags)
	if err != nil {
		return nil, err
	}
	if flags&flagCompressed != 0 {
		return decompress(body, int(rawLen))
	}
	if int64(len(body)) != rawLen {
		return nil, corrupt("length %d, header says %d", len(body), rawLen)
	}
	return body, nil
}

// open returns the payload of v, decrypted when flags say so. Encryption
// must match the codec: a keyed codec refuses plain values, which anyone
// with write access to memcached could forge.
func (c *codec) open(key string, v []byte, flags byte) ([]byte, error) {
	encrypted := flags&flagEncrypted != 0
	switch {
	case encrypted && c.aeadKey == nil:
		return nil, corrupt("value is encrypted but no SecretKey is configured")
	case !encrypted && c.aeadKey != nil:
		return nil, corrupt("value is not encrypted but a SecretKey is configured")
	case !encrypted:
		return v[headerLen:], nil
	}
	p := v[headerLen:]
	if len(p) < saltLen+tagLen {
		return nil, corrupt("encrypted payload of %d bytes is too short", len(p))
	}
	aead, nonce, err := c.valueAEAD(p[:saltLen])
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, p[saltLen:], additionalData(v[:headerLen], key))
	if err != nil {
		return nil, corrupt("authentication failed: wrong SecretKey, or value altered or moved")
	}
	return plain, nil
}

// decompress decodes an S2 block that must expand to exactly rawLen bytes.
// rawLen is checked against MaxValueSize before anything is allocated.
func decompress(body []byte, rawLen int) ([]byte, error) {
	n, err := s2.DecodedLen(body)
	if err != nil || n != rawLen {
		return nil, corrupt("compressed length does not match header")
	}
	out, err := s2.Decode(make([]byte, n), body)
	if err != nil {
		return nil, corrupt("decompress: %v", err)
	}
	return out, nil
}

// valueAEAD derives the per-value GCM key and nonce from the salt.
func (c *codec) valueAEAD(salt []byte) (cipher.AEAD, []byte, error) {
	km, err := hkdf.Key(sha256.New, c.aeadKey, salt, infoValue, gcmKeyLen+nonceLen)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: derive value key: %w", err)
	}
	block, err := aes.NewCipher(km[:gcmKeyLen])
	if err != nil {
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	return aead, km[gcmKeyLen:], nil
}

func additionalData(header []byte, key string) []byte {
	ad := make([]byte, 0, len(header)+len(key))
	return append(append(ad, header...), key...)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// maxRelative is the longest expiration memcached reads as relative
// seconds; larger values are absolute Unix times, so a relative "31 days"
// would be a date in January 1970 and the item would vanish at once.
const maxRelative = 30 * 24 * 60 * 60

// expiration converts an absolute expiry into memcached's exptime.
// keep is false when expiry has passed: the value must not be stored.
//
//   - zero expiry: 0, memcached's "never expires";
//   - up to 30 days ahead: relative seconds, rounded up so an item never
//     expires early, and at least 1 (0 would mean never);
//   - further ahead: the absolute Unix time, rounded up, capped at the
//     largest value memcached accepts (January 2038). memcached compares it
//     with its own clock, so server clocks should be synchronised.
func expiration(expiry, now time.Time) (exptime int32, keep bool) {
	if expiry.IsZero() {
		return 0, true
	}
	left := expiry.Sub(now)
	if left <= 0 {
		return 0, false
	}
	if secs := ceilSeconds(left); secs <= maxRelative {
		return int32(secs), true
	}
	abs := expiry.Unix()
	if expiry.Nanosecond() > 0 {
		abs++
	}
	return int32(min(abs, math.MaxInt32)), true
}

// ceilSeconds rounds a positive duration up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
