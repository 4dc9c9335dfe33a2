package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// outcome classifies the error of one memcached request.
type outcome int

const (
	answered   outcome = iota // success, miss or other reply: the server is up
	serverDown                // dial failure or timeout: skip the server for DownFor
	connBroken                // a pooled connection died (server restarted?): redial once
	noServer                  // the ring has no server up
	failed                    // any other error: report it, the server is up
)

func classify(err error) outcome {
	var opErr *net.OpError
	var dialTimeout *memcache.ConnectTimeoutError
	var netErr net.Error
	switch {
	case err == nil, errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
		return answered
	case errors.Is(err, ErrUnavailable):
		return noServer
	case errors.As(err, &dialTimeout), errors.As(err, &opErr) && opErr.Op == "dial":
		return serverDown
	case errors.As(err, &netErr) && netErr.Timeout():
		return serverDown
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.As(err, &opErr):
		return connBroken
	}
	return failed
}

// do runs op (a request through m.client, which routes key by ring) on the
// key's current server, moving to the next server in the key's ranking
// after a network failure. It stops on an answer, an error that is not a
// network failure, when ctx is done, when no server is left, or once
// Timeout has passed since the call began; with each request bounded by
// Timeout, a call takes at most about twice Timeout.
func (m *Memcached) do(ctx context.Context, key string, op func() error) error {
	start := time.Now()
	var last error
	for range len(m.ring.nodes) {
		if err := ctx.Err(); err != nil {
			return err
		}
		gen := m.ring.gen.Load()
		idx, first, ok := m.ring.pick(key)
		if !ok {
			break
		}
		err := op()
		if classify(err) == connBroken {
			m.client.Close() // drop the other idle connections to a restarted server too
			err = op()
		}
		switch classify(err) {
		case answered:
			m.served(idx, first)
			return err
		case failed:
			return err
		case serverDown, connBroken:
			m.blame(key, idx, gen, err)
		}
		last = err
		if time.Since(start) >= m.timeout {
			break
		}
	}
	return unavailable(last)
}

// served records a request answered by server idx.
func (m *Memcached) served(idx int, first bool) {
	m.ring.markUp(idx)
	if !first {
		m.stats.failovers.Add(1)
	}
}

// blame marks server idx down for a failed request, but only if the ring
// has not changed since pick: then gomemcache's own PickServer call during
// the request returned idx too. (Without a markDown in between, servers only
// come back up as time passes, so an unchanged pick before and after the
// request means an unchanged pick during it.) Otherwise the request may
// have gone elsewhere and the next attempt simply picks again.
func (m *Memcached) blame(key string, idx int, gen uint64, err error) {
	if m.ring.gen.Load() != gen {
		return
	}
	if now, _, ok := m.ring.pick(key); ok && now == idx {
		m.ring.markDown(idx, err)
	}
}

// sweep deletes key on every server that is up, in configuration order.
// It returns nil only if every server it tried answered.
func (m *Memcached) sweep(ctx context.Context, key string) error {
	tried := 0
	var errs []error
	for i, c := range m.direct {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !m.ring.isUp(i) {
			continue
		}
		tried++
		err := c.Delete(key)
		if classify(err) == connBroken {
			c.Close()
			err = c.Delete(key)
		}
		switch classify(err) {
		case answered:
			m.ring.markUp(i)
			continue
		case serverDown, connBroken:
			m.ring.markDown(i, err)
			err = unavailable(err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.ring.nodes[i].id, err))
	}
	if tried == 0 {
		return ErrUnavailable
	}
	return errors.Join(errs...)
}

func unavailable(last error) error {
	if last == nil || errors.Is(last, ErrUnavailable) {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, last)
}

// fixedServer is a memcache.ServerSelector with a single server; Delete's
// sweep uses one client per server to reach each of them.
type fixedServer struct{ addr net.Addr }

func (f fixedServer) PickServer(string) (net.Addr, error) { return f.addr, nil }
func (f fixedServer) Each(fn func(net.Addr) error) error  { return fn(f.addr) }
