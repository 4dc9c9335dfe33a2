package rpc

import (
	"bufio"
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// addrHandler answers opEcho on the fast path, noting where each request's
// body lay in memory (an address only: the body is not retained).
type addrHandler struct {
	testHandler
	mu    sync.Mutex // guards addrs
	addrs map[uint64]uintptr
}

func (h *addrHandler) ServeFast(method uint8, body, buf []byte) ([]byte, bool) {
	if method != opEcho || len(body) < 8 {
		return nil, false
	}
	id := uint64(body[0]) // the test puts the request id in the first byte
	h.mu.Lock()
	h.addrs[id] = uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	h.mu.Unlock()
	return append(buf, body...), true
}

// Requests that arrive together are served where they lie in the read
// buffer: each body after the first (read from the connection, into its
// own allocation) starts one header after the end of the one before. Heap
// allocations of this size sit a multiple of 8 bytes apart, so copies
// could not be 20+9 = 29 bytes apart.
func TestFastRequestsServedInPlace(t *testing.T) {
	const n, size = 5, 9
	h := &addrHandler{addrs: make(map[uint64]uintptr)}
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var out []byte
	for id := uint64(1); id <= n; id++ {
		body := bytes.Repeat([]byte{byte(id)}, size)
		out = append(out, rawFrame(header{kind: kindRequest, method: opEcho, id: id}, body)...)
	}
	if _, err := nc.Write(out); err != nil { // one segment: read by the server at once
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(nc)
	for id := uint64(1); id <= n; id++ {
		got, body, err := readFrame(br, 1<<10)
		if err != nil || got.id != id || len(body) != size || body[0] != byte(id) {
			t.Fatalf("reply %d: id %d, %d bytes, err %v", id, got.id, len(body), err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := uint64(2); id < n; id++ {
		if gap := h.addrs[id+1] - h.addrs[id]; gap != headerLen+size {
			t.Errorf("body %d starts %d bytes after body %d, want %d: not served from the read buffer",
				id+1, int64(gap), id, headerLen+size)
		}
	}
}

// A body handed out in place ends where its frame does: appending to it
// copies it rather than overwriting the next buffered frame.
func TestPeekedBodyAppendKeepsNextFrame(t *testing.T) {
	f1 := rawFrame(header{kind: kindRequest, method: opEcho, id: 1}, []byte("first"))
	f2 := rawFrame(header{kind: kindRequest, method: opEcho, id: 2}, []byte("second"))
	br := bufio.NewReaderSize(bytes.NewReader(append(f1, f2...)), bufSize)
	if _, err := br.Peek(len(f1) + len(f2)); err != nil {
		t.Fatal(err)
	}
	h, body, ok := peekFrame(br, 1<<10)
	if !ok || h.id != 1 || string(body) != "first" {
		t.Fatalf("peekFrame = id %d %q ok=%v, want id 1 \"first\" ok", h.id, body, ok)
	}
	_ = append(body, "a handler appending to its request body"...)
	if _, err := br.Discard(len(f1)); err != nil {
		t.Fatal(err)
	}
	h, body, err := readFrame(br, 1<<10)
	if err != nil || h.id != 2 || string(body) != "second" {
		t.Fatalf("next frame = id %d %q, %v; want id 2 \"second\"", h.id, body, err)
	}
}
