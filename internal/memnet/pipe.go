package memnet

import (
	"io"
	"sync"
	"time"
)

// StreamBuffer is the number of bytes one direction of a stream holds before
// Write blocks (backpressure), like a socket's send plus receive buffers.
// Bytes still "in flight" under SetDelay count against it.
const StreamBuffer = 1 << 20

// pipe carries bytes in one direction of a stream. Written bytes become
// readable at their due time and always in write order, whatever the jitter.
// It starts no goroutines: a reader waiting for delayed data sleeps on a timer
// of its own.
type pipe struct {
	mu sync.Mutex // guards every field below
	// chunks holds written, not yet read data, oldest first.
	chunks []chunk
	// queued is the total size of chunks; writes block at StreamBuffer.
	queued int
	// lastDue is the due time of the newest chunk: a later write is never
	// due before it, so delay jitter cannot reorder bytes.
	lastDue time.Time
	// eof is set when the writer closed: the reader gets io.EOF after data.
	eof bool
	// rclosed is set when the reader closed: data is dropped, writes fail.
	rclosed bool
	// broken, when set, fails both ends at once (partition).
	broken error
	// stalled holds data back from the reader (a one-way block); writes
	// still queue. allow counts the chunks that had arrived before the
	// block and stay readable.
	stalled bool
	allow   int
	// changed is closed and replaced on every state change (a broadcast).
	changed chan struct{}
}

type chunk struct {
	b   []byte
	due time.Time
}

func newPipe() *pipe { return &pipe{changed: make(chan struct{})} }

func (p *pipe) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// push queues as much of b as fits, due after delay. It returns the number of
// bytes taken and, when that is less than len(b), a channel to wait on before
// trying again.
func (p *pipe) push(b []byte, delay time.Duration) (int, <-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.broken != nil:
		return 0, nil, p.broken
	case p.rclosed:
		return 0, nil, ErrBrokenPipe
	case p.eof:
		return 0, nil, ErrBrokenPipe
	}
	n := min(len(b), StreamBuffer-p.queued)
	if n == 0 {
		return 0, p.changed, nil
	}
	due := time.Now().Add(delay)
	if due.Before(p.lastDue) {
		due = p.lastDue
	}
	p.lastDue = due
	p.chunks = append(p.chunks, chunk{b: append([]byte(nil), b[:n]...), due: due})
	p.queued += n
	p.broadcastLocked()
	return n, p.changed, nil
}

// pull copies due data into b. With nothing to return yet it reports a
// channel to wait on and, if data is in flight, when the next chunk is due.
func (p *pipe) pull(b []byte, now time.Time) (n int, wait <-chan struct{}, due time.Time, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken != nil {
		return 0, nil, time.Time{}, p.broken
	}
	for len(p.chunks) > 0 && n < len(b) && !p.chunks[0].due.After(now) && (!p.stalled || p.allow > 0) {
		c := &p.chunks[0]
		k := copy(b[n:], c.b)
		n += k
		c.b = c.b[k:]
		if len(c.b) == 0 {
			p.chunks[0] = chunk{}
			p.chunks = p.chunks[1:]
			if p.stalled {
				p.allow--
			}
		}
	}
	if n > 0 {
		p.queued -= n
		p.broadcastLocked()
		return n, nil, time.Time{}, nil
	}
	if p.stalled {
		return 0, p.changed, time.Time{}, nil // until Heal
	}
	if len(p.chunks) > 0 {
		return 0, p.changed, p.chunks[0].due, nil
	}
	if p.eof {
		return 0, nil, time.Time{}, io.EOF
	}
	return 0, p.changed, time.Time{}, nil
}

// ended reports whether a read would fail or return io.EOF now: the stream
// broke, or the writer closed and no data is left. A writer's close does not
// cross a one-way block.
func (p *pipe) ended() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.broken != nil || (!p.stalled && p.eof && len(p.chunks) == 0)
}

// isStalled reports whether a one-way block holds this direction back.
func (p *pipe) isStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// closeWrite is the writer's end going away: the reader sees EOF after the
// queued data.
func (p *pipe) closeWrite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eof = true
	p.broadcastLocked()
}

// closeRead is the reader's end going away: queued data is discarded and
// further writes fail.
func (p *pipe) closeRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rclosed = true
	p.chunks, p.queued = nil, 0
	p.broadcastLocked()
}

// setStalled holds data back from the reader, or releases it. Data that was
// due by now had arrived, and stays readable.
func (p *pipe) setStalled(v bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == v {
		return
	}
	p.stalled, p.allow = v, 0
	if v {
		for _, c := range p.chunks {
			if c.due.After(now) {
				break
			}
			p.allow++
		}
	}
	p.broadcastLocked()
}

// breakWith fails both ends with err from now on and discards the data.
func (p *pipe) breakWith(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken == nil {
		p.broken = err
	}
	p.chunks, p.queued = nil, 0
	p.broadcastLocked()
}
