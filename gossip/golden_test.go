package gossip_test

import (
	"flag"
	"testing"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// TestGoldenMeta pins the node metadata formats: version 1, what the
// first release gossips (and still what a Meta without protocol versions
// encodes to), and version 2, which appends them. Each Meta encodes to its
// golden bytes and the golden bytes decode to it.
func TestGoldenMeta(t *testing.T) {
	for _, tc := range []struct {
		file string
		meta gossip.Meta
	}{
		{"v1/meta.hex", gossip.Meta{RPCAddr: "10.0.0.7:7947", Incarnation: 0x1122334455667788}},
		{"v1/meta-no-rpc.hex", gossip.Meta{Incarnation: 1}},
		{"v2/meta.hex", gossip.Meta{RPCAddr: "10.0.0.7:7947", Incarnation: 0x1122334455667788, MinVersion: 1, MaxVersion: 2}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := "testdata/" + tc.file
			b, err := tc.meta.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary(%+v) = %v", tc.meta, err)
			}
			golden.Check(t, path, b, *update)
			var got gossip.Meta
			if err := got.UnmarshalBinary(golden.Read(t, path)); err != nil || got != tc.meta {
				t.Errorf("UnmarshalBinary(golden) = %+v, %v; want %+v, nil", got, err, tc.meta)
			}
		})
	}
}
