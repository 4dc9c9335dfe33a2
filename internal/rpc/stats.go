package rpc

import "sync/atomic"

// Stats is a snapshot of a Client's or Server's counters. Counters only grow
// except ConnsOpen.
type Stats struct {
	// Calls is, for a Client, calls made; for a Server, requests received.
	Calls uint64
	// Errors is, for a Client, calls that returned an error; for a Server,
	// error replies sent.
	Errors uint64
	// BytesIn and BytesOut count frame bytes, headers included.
	BytesIn  uint64
	BytesOut uint64
	// Writes counts the writes of frames to connections (one system call
	// each without TLS): BytesOut/Writes shows how well concurrent frames
	// are batched.
	Writes uint64
	// ConnsOpen is the number of connections open now.
	ConnsOpen int64
	// ConnsTotal is the number of connections dialled (Client) or accepted
	// (Server) so far.
	ConnsTotal uint64
	// FramesRejected counts malformed or oversized incoming frames; each one
	// closed its connection.
	FramesRejected uint64
	// HandshakesFailed counts failed TLS handshakes.
	HandshakesFailed uint64
	// ConnsRefused counts connections a Server closed on accepting them
	// because their listener held MaxConns already.
	ConnsRefused uint64
}

// counters is the live, concurrently updated form of Stats.
type counters struct {
	calls            atomic.Uint64
	errors           atomic.Uint64
	bytesIn          atomic.Uint64
	bytesOut         atomic.Uint64
	writes           atomic.Uint64
	connsOpen        atomic.Int64
	connsTotal       atomic.Uint64
	framesRejected   atomic.Uint64
	handshakesFailed atomic.Uint64
	connsRefused     atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Calls:            c.calls.Load(),
		Errors:           c.errors.Load(),
		BytesIn:          c.bytesIn.Load(),
		BytesOut:         c.bytesOut.Load(),
		Writes:           c.writes.Load(),
		ConnsOpen:        c.connsOpen.Load(),
		ConnsTotal:       c.connsTotal.Load(),
		FramesRejected:   c.framesRejected.Load(),
		HandshakesFailed: c.handshakesFailed.Load(),
		ConnsRefused:     c.connsRefused.Load(),
	}
}

// connOpened and connClosed keep ConnsOpen and ConnsTotal in step.
func (c *counters) connOpened() {
	c.connsOpen.Add(1)
	c.connsTotal.Add(1)
}

func (c *counters) connClosed() { c.connsOpen.Add(-1) }
