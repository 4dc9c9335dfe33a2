package backup

import (
	"bytes"
	"flag"
	"testing"

	"github.com/e5b1d45c/sessring/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// goldenData compresses well, so the compressed goldens are compressed.
var goldenData = bytes.Repeat([]byte("session-attribute=value;"), 20)

// TestGoldenValuesV1 pins the value format of protocol version 1 (format
// byte 1): values the first release wrote to memcached, plain, compressed
// and encrypted, must decode to their data forever. Plain values are also
// encoded to their golden bytes; compressed and encrypted ones are not
// compared byte for byte (S2 output may change between library versions
// and each value has a random salt), only their header.
func TestGoldenValuesV1(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		data   []byte
		exact  bool
	}{
		{"plain", nil, []byte("small session"), true},
		{"plain-compressed", nil, goldenData, false},
		{"keyed", testSecret, []byte("small session"), false},
		{"keyed-compressed", testSecret, goldenData, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCodec(t, tc.secret)
			key := c.storageKey("golden-token")
			path := "testdata/v1/value-" + tc.name + ".hex"
			enc, err := c.encode(key, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if *update || tc.exact {
				golden.Check(t, path, enc, *update)
			}
			stored := golden.Read(t, path)
			if !bytes.Equal(stored[:headerLen], enc[:headerLen]) {
				t.Errorf("header %x, golden %x: want the same", enc[:headerLen], stored[:headerLen])
			}
			got, err := c.decode(key, stored)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Errorf("decode(golden) = %q, %v; want %q, nil", got, err, tc.data)
			}
		})
	}
}

// TestGoldenStorageKeysV1 pins how tokens map to memcached keys: a value
// written by any earlier version must be found under the same key.
func TestGoldenStorageKeysV1(t *testing.T) {
	var keys []byte
	for _, secret := range [][]byte{nil, testSecret} {
		keys = append(keys, testCodec(t, secret).storageKey("golden-token")...)
		keys = append(keys, '\n')
	}
	golden.Check(t, "testdata/v1/storage-keys.hex", keys, *update)
}
