package store

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// FuzzUnmarshalEntry feeds arbitrary bytes to the entry decoder used for
// backup values: it must reject or decode, never panic, and what it decodes
// must re-encode to the same bytes.
func FuzzUnmarshalEntry(f *testing.F) {
	f.Add(marshalEntry("tok", &entry{kind: KindBytes, version: 3, value: []byte("hello"), expiry: 99}, entryFormat))
	f.Add(marshalEntry("tok", &entry{kind: KindFields, version: 1, fields: map[string][]byte{"a": []byte("1"), "b": nil}}, entryFormat))
	f.Add(marshalEntry("tok", &entry{kind: KindBytes, deleted: true, version: 9}, entryFormat))
	f.Add(marshalEntry("tok", &entry{kind: KindBytes, version: 4, value: []byte("no token")}, entryFormatNoToken))
	f.Add([]byte{1, 3, 't', 'o', 'k', 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := unmarshalEntry("tok", b)
		if err != nil {
			return
		}
		for _, format := range []byte{entryFormat, entryFormatNoToken} {
			again := marshalEntry("tok", e, format)
			e2, err := unmarshalEntry("tok", again)
			if err != nil || !bytes.Equal(marshalEntry("tok", e2, format), again) {
				t.Fatalf("round trip in format %d of a decoded entry failed: %v", format, err)
			}
		}
	})
}

// FuzzServeRPC sends arbitrary peer requests to a live single node: bad
// frames must be refused with an error, never panic, and the node keeps
// serving. (A well-formed write may legitimately change "keep"; only a
// refused request must leave it alone.)
func FuzzServeRPC(f *testing.F) {
	c := newTestCluster(f, 1)
	n := c.Nodes()[0]
	if err := n.Commit("keep", []byte("safe"), time.Time{}); err != nil {
		f.Fatal(err)
	}
	var enc wire.Encoder
	header{"x", n.view.Load().id()}.encode(&enc)
	enc.String("keep")
	f.Add(mRead, enc.B)
	f.Add(mReplicate, append(bytes.Clone(enc.B), 1, 2, 3))
	f.Add(mPull, []byte{1, 'x', 0, 2, 0, 1})
	f.Add(mWrite, []byte{})
	f.Add(mRepair, []byte{0, 0, 5})
	f.Fuzz(func(t *testing.T, method uint8, body []byte) {
		before := n.parts[n.partitionOf("keep")].get("keep")
		_, rerr := n.serveRPC(context.Background(), method, body)
		after := n.parts[n.partitionOf("keep")].get("keep")
		if rerr != nil && before != after {
			t.Fatalf("refused request (%v) changed stored data", rerr)
		}
		if _, _, err := n.Find("keep"); err != nil {
			t.Fatalf("after a fuzzed request Find(keep) = %v", err)
		}
	})
}
