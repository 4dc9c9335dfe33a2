package rpc

import (
	"bufio"
	"bytes"
	"flag"
	"testing"

	"github.com/e5b1d45c/sessring/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// TestGoldenV1 pins the frame format of protocol version 1 (frame version
// byte 1): each frame encodes to its golden bytes and the golden bytes
// decode to the frame.
func TestGoldenV1(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    header
		body []byte
	}{
		{"request", header{kind: kindRequest, method: 2, id: 0x0102030405060708, aux: 1500}, []byte("request body")},
		{"request-no-deadline", header{kind: kindRequest, method: 11, id: 1}, nil},
		{"response", header{kind: kindResponse, method: 2, id: 0x0102030405060708}, []byte("reply body")},
		{"error", header{kind: kindError, method: 2, id: 9, aux: uint32(CodeUnknownMethod)}, []byte("store: unknown method 13")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "testdata/v1/frame-" + tc.name + ".hex"
			h := tc.h
			h.length = uint32(len(tc.body))
			golden.Check(t, path, append(h.appendTo(nil), tc.body...), *update)

			got, body, err := readFrame(bufio.NewReader(bytes.NewReader(golden.Read(t, path))), defaultMaxFrame)
			if err != nil || got != h || !bytes.Equal(body, tc.body) {
				t.Errorf("readFrame(golden) = %+v, %q, %v; want %+v, %q, nil", got, body, err, h, tc.body)
			}
		})
	}
}
