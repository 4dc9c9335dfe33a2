package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    header
		body []byte
	}{
		{"request", header{kind: kindRequest, method: 7, id: 1, aux: 2000}, []byte("get s1")},
		{"empty response", header{kind: kindResponse, method: 7, id: 1 << 40}, nil},
		{"error", header{kind: kindError, method: 255, id: 3, aux: 65535}, []byte("boom")},
		{"large", header{kind: kindResponse, id: 4}, bytes.Repeat([]byte{1}, 3*bodyChunk+5)},
	} {
		data := rawFrame(tc.h, tc.body)
		// One byte per Read exercises every partial-read path.
		br := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(data)), bufSize)
		got, body, err := readFrame(br, defaultMaxFrame)
		want := tc.h
		want.length = uint32(len(tc.body))
		if err != nil || got != want || !bytes.Equal(body, tc.body) {
			t.Errorf("%s: readFrame = %+v, %d bytes, %v; want %+v, %d bytes, nil",
				tc.name, got, len(body), err, want, len(tc.body))
		}
		if _, _, err := readFrame(br, defaultMaxFrame); err != io.EOF {
			t.Errorf("%s: readFrame at end = %v, want io.EOF", tc.name, err)
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	valid := rawFrame(header{kind: kindRequest, id: 1}, []byte("body"))
	set := func(i int, b byte) []byte {
		f := bytes.Clone(valid)
		f[i] = b
		return f
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"bad magic", set(0, 'G'), ErrBadFrame},
		{"bad version", set(1, 0), ErrBadFrame},
		{"kind zero", set(2, 0), ErrBadFrame},
		{"kind unknown", set(2, 4), ErrBadFrame},
		{"error code too big", rawFrame(header{kind: kindError, aux: 70000}, nil), ErrBadFrame},
		{"length over max", set(16, 1), ErrFrameTooLarge},
		{"truncated header", valid[:5], ErrBadFrame},
		{"truncated body", valid[:len(valid)-1], ErrBadFrame},
	} {
		br := bufio.NewReaderSize(bytes.NewReader(tc.data), bufSize)
		_, _, err := readFrame(br, 1<<20)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: readFrame error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestClaimedLengthIsNotAllocated checks that memory follows the bytes that
// arrive, not the length a peer claims.
func TestClaimedLengthIsNotAllocated(t *testing.T) {
	for _, sent := range []int{0, 10, bodyChunk, 3 * bodyChunk} {
		claimed := 16 << 20
		b, err := readBody(bytes.NewReader(make([]byte, sent)), nil, claimed)
		if err == nil {
			t.Fatalf("readBody(%d of %d bytes) error = nil, want a short read", sent, claimed)
		}
		if limit := max(2*sent, bodyChunk) + bodyChunk; cap(b) > limit {
			t.Errorf("readBody(%d of %d bytes) allocated %d bytes, want <= %d", sent, claimed, cap(b), limit)
		}
	}
}

// recordingConn is a net.Conn that records writes; other methods are unused.
type recordingConn struct {
	net.Conn
	out    bytes.Buffer
	writes int
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.out.Write(p)
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

func TestWriterFlushesEachLoneFrame(t *testing.T) {
	var nc recordingConn
	var st counters
	w := newFrameWriter(&nc, testTimeout, &st)
	bodies := [][]byte{[]byte("abc"), bytes.Repeat([]byte{'L'}, bufSize+1), nil, []byte("xyz")}
	want := 0
	for i, body := range bodies {
		if err := w.write(header{kind: kindResponse, id: uint64(i)}, body); err != nil {
			t.Fatalf("write: %v", err)
		}
		want += headerLen + len(body)
	}
	// The large body goes out as header then body (one writev on TCP).
	if nc.writes != len(bodies)+1 {
		t.Errorf("%d unqueued frames took %d writes, want %d (each flushed at once)",
			len(bodies), nc.writes, len(bodies)+1)
	}
	if got := st.bytesOut.Load(); got != uint64(want) {
		t.Errorf("bytes counted = %d, want %d", got, want)
	}
	// The vectored write counts once (writev on TCP); this conn takes it in two.
	if got := st.writes.Load(); got != uint64(nc.writes-1) {
		t.Errorf("writes counted = %d, want %d", got, nc.writes-1)
	}
	br := bufio.NewReader(&nc.out)
	for i, body := range bodies {
		h, got, err := readFrame(br, 2*bufSize)
		if err != nil || h.id != uint64(i) || !bytes.Equal(got, body) {
			t.Errorf("frame %d = id %d, %d bytes, %v; want id %d, %d bytes", i, h.id, len(got), err, i, len(body))
		}
	}
}

// failingConn accepts accept bytes in total, then fails every write.
type failingConn struct {
	net.Conn
	accept int
}

func (c *failingConn) Write(p []byte) (int, error) {
	n := min(len(p), c.accept)
	c.accept -= n
	if n < len(p) {
		return n, syscall.EPIPE
	}
	return n, nil
}

func (c *failingConn) SetWriteDeadline(time.Time) error { return nil }

// TestWriterHoldsUntilFlush: frames written with hold stay buffered until
// a flush or a plain write, which sends them all in one write; a held frame
// too large for the buffer goes out at once.
func TestWriterHoldsUntilFlush(t *testing.T) {
	var nc recordingConn
	var st counters
	w := newFrameWriter(&nc, testTimeout, &st)
	large := bytes.Repeat([]byte{'L'}, bufSize+1)
	steps := []struct {
		name       string
		do         func() error
		wantWrites int
	}{
		{"hold", func() error { return w.hold(header{kind: kindResponse, id: 0}, []byte("a")) }, 0},
		{"hold again", func() error { return w.hold(header{kind: kindResponse, id: 1}, []byte("b")) }, 0},
		{"flush", w.flush, 1},
		{"flush with nothing held", w.flush, 1},
		{"hold", func() error { return w.hold(header{kind: kindResponse, id: 2}, []byte("c")) }, 1},
		{"write after a hold", func() error { return w.write(header{kind: kindResponse, id: 3}, []byte("d")) }, 2},
		// header and body: one vectored write, which this conn takes in two
		{"hold too large", func() error { return w.hold(header{kind: kindResponse, id: 4}, large) }, 4},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if nc.writes != s.wantWrites {
			t.Fatalf("after %s: %d writes, want %d", s.name, nc.writes, s.wantWrites)
		}
	}
	br := bufio.NewReader(&nc.out)
	for i := range 5 {
		h, _, err := readFrame(br, 2*bufSize)
		if err != nil || h.id != uint64(i) {
			t.Fatalf("frame %d: id %d, err %v; want frames in order", i, h.id, err)
		}
	}
}

// TestWriterMarksUnwrittenFrames: a failed write is marked errNothingWritten
// exactly when none of the frame's bytes reached the connection, so only a
// request that certainly never left is reported as not sent.
func TestWriterMarksUnwrittenFrames(t *testing.T) {
	var st counters
	large := bytes.Repeat([]byte{'L'}, bufSize+1) // written with its header in one vectored write
	for _, tc := range []struct {
		name       string
		accept     int
		body       []byte
		wantMarked bool
	}{
		{"nothing accepted", 0, []byte("abc"), true},
		{"part of the frame accepted", 5, []byte("abc"), false},
		{"nothing of a large frame accepted", 0, large, true},
		{"part of a large frame accepted", headerLen + 10, large, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFrameWriter(&failingConn{accept: tc.accept}, testTimeout, &st)
			err := w.write(header{kind: kindRequest, id: 1}, tc.body)
			if err == nil {
				t.Fatal("write to a failing connection = nil, want an error")
			}
			if got := errors.Is(err, errNothingWritten); got != tc.wantMarked {
				t.Errorf("write error %v: marked not written = %v, want %v", err, got, tc.wantMarked)
			}
			// The connection is dead: a later frame is never written.
			if err := w.write(header{kind: kindRequest, id: 2}, []byte("later")); !errors.Is(err, errNothingWritten) {
				t.Errorf("write after a failure = %v, want it marked not written", err)
			}
		})
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(rawFrame(header{kind: kindRequest, method: 1, id: 1, aux: 500}, []byte("hello")))
	f.Add(rawFrame(header{kind: kindError, id: 9, aux: 404}, []byte("nope")))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxBody = 1 << 20
		br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
		read := 0
		for {
			h, body, err := readFrame(br, maxBody)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("readFrame error = %v, want io.EOF, ErrBadFrame or ErrFrameTooLarge", err)
				}
				break
			}
			if len(body) != int(h.length) || len(body) > maxBody {
				t.Fatalf("body of %d bytes for header length %d (max %d)", len(body), h.length, maxBody)
			}
			read += headerLen + len(body)
			if read > len(data) {
				t.Fatalf("decoded %d bytes from %d bytes of input", read, len(data))
			}
		}
		// However long a body claims to be, memory follows the input.
		if len(data) >= 4 {
			claimed := int(uint32(data[0])<<16 | uint32(data[1])<<8 | uint32(data[2]))
			b, _ := readBody(bytes.NewReader(data[3:]), nil, claimed)
			if limit := max(2*len(data), bodyChunk) + bodyChunk; cap(b) > limit {
				t.Fatalf("readBody(claimed %d, have %d) allocated %d, want <= %d", claimed, len(data)-3, cap(b), limit)
			}
		}
	})
}
