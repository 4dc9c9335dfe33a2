package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/store"
)

// Errors returned by Memcached, wrapped with %w and the "backup:" prefix;
// test them with errors.Is. Context errors are returned wrapped as well.
var (
	// ErrBadConfig wraps every Validate failure.
	ErrBadConfig = errors.New("backup: invalid config")

	// ErrTooLarge means the value exceeds MaxValueSize, or its encoded form
	// exceeds MaxItemSize. Nothing was written. It also matches
	// store.ErrTooLarge, which tells the store that no retry can store
	// this version.
	ErrTooLarge error = tooLarge{}

	// ErrCorrupt means a stored value could not be decoded: malformed,
	// truncated, altered, moved to another key, or written with another
	// SecretKey (or without one when one is configured).
	ErrCorrupt = errors.New("backup: corrupt or unauthenticated value")

	// ErrUnavailable means no memcached server could be reached within the
	// operation's time budget. The call may be retried.
	ErrUnavailable = errors.New("backup: no memcached server reachable")

	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("backup: closed")
)

var _ store.Backup = (*Memcached)(nil)

// tooLarge is ErrTooLarge's type: errors.Is matches it with both
// ErrTooLarge and store.ErrTooLarge.
type tooLarge struct{}

func (tooLarge) Error() string        { return "backup: value too large" }
func (tooLarge) Is(target error) bool { return target == store.ErrTooLarge }

// Memcached is a store.Backup on one or more memcached servers. All methods
// may be called concurrently.
//
// Put and Delete run synchronously on the caller's goroutine. They check
// ctx before every attempt, but they do not abandon a write that is on the
// wire: an abandoned write could land after a later write of the same
// session and resurrect stale data. Such a call may therefore return up to
// about one Timeout after ctx is done. Get, which has no side effect,
// returns as soon as ctx is done; its attempt finishes in the background
// within Timeout, and Close waits for it.
type Memcached struct {
	// codec is replaced once by UseClusterKey when Config.SecretKey is
	// unset; every call loads it once.
	codec   atomic.Pointer[codec]
	cfg     Config // with defaults, for UseClusterKey
	ring    *ring
	client  *memcache.Client   // routes through ring; used by Put and Get
	direct  []*memcache.Client // one per ring node; used by Delete's sweep
	timeout time.Duration
	stats   counters
	close   func() error // runs shutdown once

	mu       sync.RWMutex // guards closed; read-held while registering in inflight
	closed   bool
	inflight sync.WaitGroup // calls and background Get attempts
}

// New validates cfg, applies defaults and returns a Memcached. It does not
// connect: servers are dialed on first use, so New succeeds while memcached
// is down.
func New(cfg Config) (*Memcached, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	nodes, err := parseNodes(cfg.Servers, cfg.Failover)
	if err != nil {
		return nil, err
	}
	c, err := newCodec(cfg)
	if err != nil {
		return nil, err
	}
	m := &Memcached{cfg: cfg, timeout: cfg.Timeout}
	m.codec.Store(c)
	m.ring = newRing(nodes, cfg.DownFor, cfg.Logger)
	m.client = newClient(m.ring, cfg.Timeout, cfg.MaxIdleConns)
	for _, a := range m.ring.addrs {
		m.direct = append(m.direct, newClient(fixedServer{a}, cfg.Timeout, 1))
	}
	m.close = sync.OnceValue(m.shutdown)
	return m, nil
}

func newClient(sel memcache.ServerSelector, timeout time.Duration, idle int) *memcache.Client {
	c := memcache.NewFromSelector(sel)
	c.Timeout = timeout
	c.MaxIdleConns = idle
	return c
}

// Put stores data for token until expiry (zero: no expiry). An expiry that
// has already passed deletes the token's value instead. data is not
// retained.
func (m *Memcached) Put(ctx context.Context, token string, data []byte, expiry time.Time) error {
	if err := m.begin(); err != nil {
		return fmt.Errorf("backup: put: %w", err)
	}
	defer m.inflight.Done()
	m.stats.puts.Add(1)
	c := m.codec.Load()
	key := c.storageKey(token)
	exp, keep := expiration(expiry, time.Now())
	if !keep {
		return m.fail("put expired", m.sweepKeys(ctx, c.all, token))
	}
	value, err := c.encode(key, data)
	if err != nil {
		return m.fail("put", err)
	}
	item := &memcache.Item{Key: key, Value: value, Expiration: exp}
	if err := m.do(ctx, key, func() error { return m.client.Set(item) }); err != nil {
		return m.fail("put", err)
	}
	m.stats.bytesWritten.Add(uint64(len(value)))
	// A copy under an old key would be read by a node that still writes
	// with that key, ahead of this newer value: remove it. Until it is
	// gone the Put is not done, so the caller retries.
	if err := m.sweepKeys(ctx, c.old, token); err != nil {
		return m.fail("put", err)
	}
	return nil
}

// Get returns the value stored for token, or (nil, false, nil) if there is
// none. It reads the key's first-choice server, or the next one in the
// key's ranking while that one is down, which is where Put wrote meanwhile.
func (m *Memcached) Get(ctx context.Context, token string) ([]byte, bool, error) {
	if err := m.begin(); err != nil {
		return nil, false, fmt.Errorf("backup: get: %w", err)
	}
	m.stats.gets.Add(1)
	c := m.codec.Load()
	if ctx.Done() == nil { // cannot be cancelled: no need for a goroutine
		defer m.inflight.Done()
		return m.finishGet(m.lookup(ctx, c, token))
	}
	ch := make(chan fetched, 1) // buffered: an abandoned attempt never blocks
	go func() {
		defer m.inflight.Done()
		ch <- m.lookup(ctx, c, token)
	}()
	select {
	case r := <-ch:
		return m.finishGet(r)
	case <-ctx.Done():
		return nil, false, m.fail("get", ctx.Err())
	}
}

// fetched is the outcome of one Get: the item, the key it was read under
// and the codec of that key.
type fetched struct {
	item  *memcache.Item
	err   error
	key   string
	codec *codec
}

// lookup reads token under the current key, then under each old key, and
// returns the first value found (ErrCacheMiss when there is none). Put and
// Delete remove the old keys' copies, so at most one is current.
func (m *Memcached) lookup(ctx context.Context, c *codec, token string) fetched {
	var r fetched
	for _, k := range c.all {
		r = fetched{key: k.storageKey(token), codec: k}
		r.err = m.do(ctx, r.key, func() error {
			var err error
			r.item, err = m.client.Get(r.key)
			return err
		})
		if !errors.Is(r.err, memcache.ErrCacheMiss) {
			break
		}
	}
	return r
}

func (m *Memcached) finishGet(r fetched) ([]byte, bool, error) {
	if errors.Is(r.err, memcache.ErrCacheMiss) {
		m.stats.misses.Add(1)
		return nil, false, nil
	}
	if r.err != nil {
		return nil, false, m.fail("get", r.err)
	}
	data, err := r.codec.decode(r.key, r.item.Value)
	if err != nil {
		return nil, false, m.fail("get", err)
	}
	m.stats.hits.Add(1)
	m.stats.bytesRead.Add(uint64(len(r.item.Value)))
	return data, true, nil
}

// Delete removes token's value from every server that is up, not only from
// its first choice: a copy written to a stand-in server while the first
// choice was down must not resurrect a logged-out session later. Deleting a
// missing token returns nil.
func (m *Memcached) Delete(ctx context.Context, token string) error {
	if err := m.begin(); err != nil {
		return fmt.Errorf("backup: delete: %w", err)
	}
	defer m.inflight.Done()
	m.stats.deletes.Add(1)
	return m.fail("delete", m.sweepKeys(ctx, m.codec.Load().all, token))
}

// sweepKeys deletes token under each codec's key on every server (sweep).
func (m *Memcached) sweepKeys(ctx context.Context, codecs []*codec, token string) error {
	var errs []error
	for _, k := range codecs {
		errs = append(errs, m.sweep(ctx, k.storageKey(token)))
	}
	return errors.Join(errs...)
}

// UseClusterKey makes a Memcached configured without a SecretKey derive its
// keys from the cluster key, as if SecretKey were clusterKey and
// OldSecretKeys were old: values are then sealed and keys are HMACs, and
// unsealed values no longer load. With a SecretKey of its own it changes
// nothing. store.Open calls it with store.Config.SecretKey and
// OldSecretKeys, so a keyed cluster never writes plaintext sessions to
// memcached and rotating the cluster key keeps the cold tier readable; call
// it only before the first Put or Get.
func (m *Memcached) UseClusterKey(clusterKey []byte, old ...[]byte) error {
	if len(m.cfg.SecretKey) > 0 {
		return nil
	}
	cfg := m.cfg
	cfg.SecretKey, cfg.OldSecretKeys = clusterKey, old
	if err := cfg.Validate(); err != nil {
		return err
	}
	c, err := newCodec(cfg)
	if err != nil {
		return err
	}
	m.codec.Store(c)
	return nil
}

// Close waits for calls in progress (including abandoned Get attempts, at
// most about Timeout) and closes all connections. Later calls fail with
// ErrClosed. Close is idempotent; concurrent calls all wait.
func (m *Memcached) Close() error { return m.close() }

func (m *Memcached) shutdown() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.inflight.Wait()
	err := m.client.Close()
	for _, c := range m.direct {
		err = errors.Join(err, c.Close())
	}
	return err
}

// begin registers a call so Close waits for it.
func (m *Memcached) begin() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	m.inflight.Add(1)
	return nil
}

// fail counts and wraps a call's error; nil stays nil.
func (m *Memcached) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	m.stats.errors.Add(1)
	return fmt.Errorf("backup: %s: %w", op, err)
}

// Stats is a snapshot of a Memcached's counters since New, in the spirit
// of memcached-session-manager's enableStatistics.
type Stats struct {
	Puts    uint64 // Put calls
	Gets    uint64 // Get calls
	Hits    uint64 // Gets that returned a value
	Misses  uint64 // Gets that found nothing
	Deletes uint64 // Delete calls
	Errors  uint64 // calls that returned an error

	// Failovers counts requests answered by a server other than the key's
	// first choice, because that one was down.
	Failovers uint64

	BytesWritten uint64 // encoded bytes stored by Put
	BytesRead    uint64 // encoded bytes read by Gets that hit

	Servers []ServerStats // in configuration order: Servers, then Failover
}

// ServerStats describes one configured memcached server.
type ServerStats struct {
	ID       string
	Addr     string
	Failover bool   // from Config.Failover
	Up       bool   // false while skipped after a failure
	Failures uint64 // network failures seen
}

// counters are the live values behind Stats.
type counters struct {
	puts, gets, hits, misses, deletes, errors, failovers atomic.Uint64
	bytesWritten, bytesRead                              atomic.Uint64
}

// Stats returns a snapshot of the counters and server health. Counters are
// read one by one, so under load they may be slightly out of step.
func (m *Memcached) Stats() Stats {
	s := Stats{
		Puts:         m.stats.puts.Load(),
		Gets:         m.stats.gets.Load(),
		Hits:         m.stats.hits.Load(),
		Misses:       m.stats.misses.Load(),
		Deletes:      m.stats.deletes.Load(),
		Errors:       m.stats.errors.Load(),
		Failovers:    m.stats.failovers.Load(),
		BytesWritten: m.stats.bytesWritten.Load(),
		BytesRead:    m.stats.bytesRead.Load(),
	}
	for i, n := range m.ring.nodes {
		s.Servers = append(s.Servers, ServerStats{
			ID:       n.id,
			Addr:     n.addr,
			Failover: n.failover,
			Up:       m.ring.isUp(i),
			Failures: m.ring.failures[i].Load(),
		})
	}
	return s
}
