package rpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Frame layout; see the package documentation for the field meanings.
const (
	frameMagic   = 0xA7 // first byte of every frame
	frameVersion = 1    // bumped on any incompatible change
	headerLen    = 20

	// bodyChunk is how much of a body is allocated before its bytes arrive.
	// Larger bodies grow as data is read, so a peer claiming a 16 MiB body
	// and sending nothing costs at most this much memory.
	bodyChunk = 64 << 10
)

// kind tells what a frame carries.
type kind uint8

const (
	kindRequest  kind = 1 // client to server: aux = remaining deadline in ms (0: none)
	kindResponse kind = 2 // server to client: body = reply
	kindError    kind = 3 // server to client: aux = error code, body = message
)

// header is the fixed part of a frame.
type header struct {
	kind   kind
	method uint8
	id     uint64 // request id chosen by the client, echoed in the reply
	aux    uint32 // kind-specific: deadline (request) or error code (error)
	length uint32 // body length in bytes
}

// appendTo appends the encoded header to b.
func (h *header) appendTo(b []byte) []byte {
	b = append(b, frameMagic, frameVersion, byte(h.kind), h.method)
	b = binary.BigEndian.AppendUint64(b, h.id)
	b = binary.BigEndian.AppendUint32(b, h.aux)
	return binary.BigEndian.AppendUint32(b, h.length)
}

// parseHeader decodes and validates a header. b must hold headerLen bytes.
func parseHeader(b []byte, maxBody int) (header, error) {
	if b[0] != frameMagic {
		return header{}, fmt.Errorf("rpc: bad magic %#x: %w", b[0], ErrBadFrame)
	}
	if b[1] != frameVersion {
		return header{}, fmt.Errorf("rpc: unsupported frame version %d: %w", b[1], ErrBadFrame)
	}
	h := header{
		kind:   kind(b[2]),
		method: b[3],
		id:     binary.BigEndian.Uint64(b[4:12]),
		aux:    binary.BigEndian.Uint32(b[12:16]),
		length: binary.BigEndian.Uint32(b[16:20]),
	}
	switch h.kind {
	case kindRequest, kindResponse:
	case kindError:
		if h.aux > 0xFFFF {
			return header{}, fmt.Errorf("rpc: error code %d out of range: %w", h.aux, ErrBadFrame)
		}
	default:
		return header{}, fmt.Errorf("rpc: unknown frame kind %d: %w", h.kind, ErrBadFrame)
	}
	if uint64(h.length) > uint64(maxBody) {
		return header{}, fmt.Errorf("rpc: frame body of %d bytes exceeds %d: %w",
			h.length, maxBody, ErrFrameTooLarge)
	}
	return h, nil
}

// frameReader reads frames from a buffered stream. A read interrupted by a
// deadline keeps what it got: the next call to next continues the same frame,
// so readers that take turns on a connection, each with its own deadline,
// never lose their place in the stream. Not safe for concurrent use.
type frameReader struct {
	br      *bufio.Reader
	maxBody int
	h       header // the frame whose body is being read, when inBody
	inBody  bool
	body    []byte // the part of h's body read so far
	// large is set while the frame being read does not fit bufSize
	// (largeFrame): frames behind it wait. Read by other goroutines (see bulky).
	large atomic.Bool
}

func newFrameReader(r io.Reader, maxBody int) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, bufSize), maxBody: maxBody}
}

// next reads one frame. It returns io.EOF only at a clean frame boundary; a
// stream ending inside a frame is ErrBadFrame. Other read errors (closed
// connection, deadline) are returned as they are, and after a deadline next
// may be called again. The body is freshly allocated (nil when empty) and
// owned by the caller.
func (fr *frameReader) next() (header, []byte, error) {
	if !fr.inBody {
		b, err := fr.br.Peek(headerLen) // consumes nothing until complete
		if err != nil {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				return header{}, nil, fmt.Errorf("rpc: truncated header (%d bytes): %w", len(b), ErrBadFrame)
			}
			return header{}, nil, err
		}
		h, err := parseHeader(b, fr.maxBody)
		if err != nil {
			return header{}, nil, err
		}
		if _, err := fr.br.Discard(headerLen); err != nil {
			return header{}, nil, err
		}
		fr.h, fr.inBody, fr.body = h, true, nil
		if largeFrame(int(h.length)) {
			fr.large.Store(true)
		}
	}
	var err error
	fr.body, err = readBody(fr.br, fr.body, int(fr.h.length))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("rpc: truncated body (%d of %d bytes): %w", len(fr.body), fr.h.length, ErrBadFrame)
		}
		return header{}, nil, err
	}
	h, body := fr.h, fr.body
	fr.inBody, fr.body = false, nil
	if largeFrame(int(h.length)) {
		fr.large.Store(false)
	}
	return h, body, nil
}

// peekFrame returns the next frame when the whole of it is already in br's
// buffer, without consuming it or reading the connection: body aliases br's
// buffer, is read-only and is valid only until br is next read, peeked or
// discarded. Its capacity ends with it, so an append copies rather than
// overwrites the frames buffered behind it. ok=false when it is not all buffered, or its header is invalid (readFrame
// then reports that).
func peekFrame(br *bufio.Reader, maxBody int) (h header, body []byte, ok bool) {
	n := br.Buffered()
	if n < headerLen {
		return header{}, nil, false
	}
	b, err := br.Peek(headerLen)
	if err != nil {
		return header{}, nil, false
	}
	if h, err = parseHeader(b, maxBody); err != nil || n < headerLen+int(h.length) {
		return header{}, nil, false
	}
	if h.length == 0 {
		return h, nil, true
	}
	b, err = br.Peek(headerLen + int(h.length))
	if err != nil {
		return header{}, nil, false
	}
	end := headerLen + int(h.length)
	return h, b[headerLen:end:end], true
}

// readFrame reads one frame from br; see frameReader.next.
func readFrame(br *bufio.Reader, maxBody int) (header, []byte, error) {
	fr := frameReader{br: br, maxBody: maxBody}
	return fr.next()
}

// readBody reads into b, the part of a body read so far, until it holds n
// bytes. Small bodies take one allocation; larger ones grow by doubling as
// bytes arrive, so memory tracks what the peer actually sent rather than
// what it claimed. On error it returns what it has so far.
func readBody(r io.Reader, b []byte, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if b == nil {
		b = make([]byte, 0, min(n, bodyChunk))
	}
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n-len(b), cap(b)))
		}
		k, err := io.ReadAtLeast(r, b[len(b):min(cap(b), n)], 1)
		b = b[:len(b)+k]
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// bufSize is the per-connection buffer for each direction: one TLS record,
// and enough to batch many small frames into one write system call.
const bufSize = 16 << 10

// largeFrame reports whether a frame with an n-byte body, header included,
// does not fit a connection's buffer: frames behind it wait while it moves.
func largeFrame(n int) bool { return headerLen+n > bufSize }

// frameWriter serialises frames from concurrent goroutines onto one
// connection. A writer that sees others queued behind it leaves its frame in
// the buffer for the last of them to flush, so a burst of concurrent calls or
// replies goes out in few system calls, while a lone frame is flushed at once.
// A body that does not fit the buffer goes out with it in one vectored write
// (writev on TCP), so the peer never waits for a frame's tail in a second
// segment.
type frameWriter struct {
	nc      net.Conn
	timeout time.Duration // per-frame write deadline
	st      *counters     // of the owning Client or Server: bytes out, writes

	// waiting counts goroutines blocked on mu; read without mu to decide
	// whether to flush.
	waiting atomic.Int32
	// large counts frames that do not fit bufSize (largeFrame) being
	// written or waiting to be: frames behind them wait. Read without mu (see bulky).
	large atomic.Int32

	mu       sync.Mutex  // guards buf, vec, vecs, err and deadline
	buf      []byte      // frames not yet written; capacity bufSize
	vec      [2][]byte   // backing array for vecs, so vectored writes do not allocate
	vecs     net.Buffers // consumed by WriteTo
	err      error       // sticky: after a failed write the stream is corrupt
	deadline time.Time   // the write deadline nc has
}

func newFrameWriter(nc net.Conn, timeout time.Duration, st *counters) *frameWriter {
	return &frameWriter{
		nc:      nc,
		timeout: timeout,
		st:      st,
		buf:     make([]byte, 0, bufSize),
	}
}

// errNothingWritten marks a frameWriter.write error after which none of
// the frame's bytes had reached the connection: the peer cannot have seen
// it. Only the writer of that frame gets the mark.
var errNothingWritten = errors.New("rpc: frame not written")

// write sends one frame; h.length is set from body. An error means the
// connection is unusable and the caller must close it; every later write
// fails too. The error wraps errNothingWritten when none of this frame's
// bytes went out.
func (w *frameWriter) write(h header, body []byte) error { return w.put(h, body, false) }

// hold is write for a frame that may wait in the buffer for the next write
// or flush: the caller knows more frames follow at once (the server
// answering requests that arrived together), and must call flush before it
// next waits for anything. A frame that does not fit the buffer is written
// at once.
func (w *frameWriter) hold(h header, body []byte) error { return w.put(h, body, true) }

// flush writes the frames left in the buffer by hold. It never waits for
// another writer: whoever holds the writer acquired it after the held frames
// were buffered and writes them with its own (every writer flushes what it
// finds or leaves it to one queued behind it, and a holder calls flush
// after). Holders must not wait: a writer blocked on a peer that is not
// reading must not stop the server's reader reading, or a client's caller
// going on to read the replies the peer is blocked sending.
func (w *frameWriter) flush() error {
	if !w.mu.TryLock() {
		return nil
	}
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if _, err := w.flushLocked(); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *frameWriter) put(h header, body []byte, hold bool) error {
	h.length = uint32(len(body))
	if largeFrame(len(body)) {
		w.large.Add(1)
		defer w.large.Add(-1)
	}
	w.waiting.Add(1)
	w.mu.Lock()
	w.waiting.Add(-1)
	defer w.mu.Unlock()
	if w.err != nil {
		return fmt.Errorf("%w: %w", errNothingWritten, w.err)
	}
	if written, err := w.writeLocked(&h, body, hold); err != nil {
		w.err = err
		if !written {
			err = fmt.Errorf("%w: %w", errNothingWritten, err)
		}
		return err
	}
	w.st.bytesOut.Add(uint64(headerLen + len(body)))
	return nil
}

// writeLocked buffers or writes the frame; on error, written reports
// whether any of its bytes may have reached the connection.
func (w *frameWriter) writeLocked(h *header, body []byte, hold bool) (written bool, err error) {
	if err := w.extendDeadline(); err != nil {
		return false, err
	}
	if len(w.buf)+headerLen > cap(w.buf) {
		if _, err := w.flushLocked(); err != nil {
			return false, err
		}
	}
	start := len(w.buf) // where this frame begins in what the next write sends
	w.buf = h.appendTo(w.buf)
	var n int
	if len(w.buf)+len(body) > cap(w.buf) {
		n, err = w.writeVectorLocked(body)
	} else {
		w.buf = append(w.buf, body...)
		if hold || w.waiting.Load() > 0 {
			return false, nil // the next writer, or the holder's flush, writes it
		}
		n, err = w.flushLocked()
	}
	return n > start, err
}

// extendDeadline gives the frame at least 7/8 of the timeout to be written.
// The deadline is moved only when less than that is left, which on a busy
// connection saves a timer update per frame.
func (w *frameWriter) extendDeadline() error {
	now := time.Now()
	if w.deadline.Sub(now) >= w.timeout-w.timeout/8 {
		return nil
	}
	d := now.Add(w.timeout)
	if err := w.nc.SetWriteDeadline(d); err != nil {
		return err
	}
	w.deadline = d
	return nil
}

// flushLocked writes the buffered frames.
func (w *frameWriter) flushLocked() (int, error) {
	if len(w.buf) == 0 {
		return 0, nil
	}
	n, err := w.nc.Write(w.buf)
	w.buf = w.buf[:0]
	w.st.writes.Add(1)
	return n, err
}

// writeVectorLocked writes the buffered bytes followed by body.
func (w *frameWriter) writeVectorLocked(body []byte) (int, error) {
	w.vec = [2][]byte{w.buf, body}
	w.vecs = w.vec[:]
	n, err := w.vecs.WriteTo(w.nc)
	w.st.writes.Add(1)
	w.vec, w.vecs = [2][]byte{}, nil // do not retain the caller's body
	w.buf = w.buf[:0]
	return int(n), err
}
