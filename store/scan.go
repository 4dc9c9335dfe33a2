package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// A scan lists every session of the cluster (scs's IterableStore). Under
// one view each partition has exactly one owner, so asking every member for
// the sessions it owns in that view yields each session once, in the version
// a read would return. A member whose view differs, or that cannot serve a
// partition yet (pull, read lease, quorum), refuses with a retryable
// error, and the whole scan starts over with the next view.

// All returns every live session written with Commit, token to value: scs's
// IterableStore, which scs.SessionManager.Iterate uses. Field sessions
// (Apply, package middleware) and internal records are not listed; neither
// are sessions that exist only in the backup tier, which is not enumerable.
//
// It is an administrative operation: every member sends all its owned
// sessions, so it costs memory and traffic in proportion to all sessions in
// the cluster, and the result is a snapshot that concurrent writes may
// already have changed. All gives up after Config.OpTimeout; use AllCtx with
// a longer deadline for a large cluster. Every member must run a version
// that serves the scan; an older one makes it fail. The map and its values
// belong to the caller.
func (n *Node) All() (map[string][]byte, error) {
	return n.AllCtx(context.Background())
}

// AllCtx is All with a context (scs IterableCtxStore). ctx's deadline, if
// any, bounds the scan instead of Config.OpTimeout.
func (n *Node) AllCtx(ctx context.Context) (map[string][]byte, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.OpTimeout)
		defer cancel()
	}
	var out map[string][]byte
	err := n.retry(ctx, func(v *view) error {
		var err error
		out, err = n.scanView(ctx, v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: all: %w", n.closedErr(err))
	}
	return out, nil
}

// scanView asks every member of v, in parallel, for the sessions it owns.
func (n *Node) scanView(ctx context.Context, v *view) (map[string][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex // guards out and errs
		out  = make(map[string][]byte)
		errs []error
		wg   sync.WaitGroup
	)
	for _, member := range v.table.Members() {
		ps := v.table.Owned(member)
		if len(ps) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := n.scanMember(ctx, v, member, ps)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				cancel() // the attempt is lost: stop the others
				return
			}
			for _, it := range got {
				out[it.token] = it.value
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// scanItem is one listed session.
type scanItem struct {
	token string
	value []byte
}

// scanMember lists the sessions member owns in partitions ps, page by page.
func (n *Node) scanMember(ctx context.Context, v *view, member string, ps []int) ([]scanItem, error) {
	var all []scanItem
	for len(ps) > 0 {
		var (
			items []scanItem
			done  []int
			err   error
		)
		if member == n.name {
			items, done, err = n.scanOwned(ctx, v, ps)
			for i := range items {
				items[i].value = bytes.Clone(items[i].value) // stored: shared
			}
		} else {
			items, done, err = n.scanRemote(ctx, v, member, ps)
		}
		if err != nil {
			return nil, err
		}
		if len(done) == 0 {
			return nil, fmt.Errorf("store: scan of %s: empty page: %w", member, errNotReady)
		}
		all = append(all, items...)
		ps = remove(ps, done)
	}
	return all, nil
}

// scanRemote asks member for one page. The values alias the reply frame,
// which rpc allocated for this call alone and which goes to the caller whole.
func (n *Node) scanRemote(ctx context.Context, v *view, member string, ps []int) ([]scanItem, []int, error) {
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	encodeInts(&enc, ps)
	resp, err := n.call(ctx, v, member, mScan, enc.B)
	if re := (*rpc.RemoteError)(nil); errors.As(err, &re) && re.Code == rpc.CodeUnknownMethod {
		return nil, nil, fmt.Errorf("store: %s cannot list sessions (an older version?): %w", member, err)
	}
	if err != nil {
		return nil, nil, err
	}
	d := wire.NewDecoder(resp)
	count := d.Count(2)
	items := make([]scanItem, 0, count)
	for i := 0; i < count && d.Err() == nil; i++ {
		tok := d.String()
		items = append(items, scanItem{token: tok, value: d.Bytes()})
		if d.Err() == nil && !wellFormed(tok) {
			d.Fail("scan: malformed token")
		}
	}
	done := decodeInts(d, len(n.parts))
	if err := d.Finish(); err != nil {
		return nil, nil, fmt.Errorf("store: scan of %s: %w", member, err)
	}
	return items, done, nil
}

// serveScan answers scanRemote: the sessions this node owns in the
// requested partitions, under the sender's view only.
func (n *Node) serveScan(ctx context.Context, v *view, h header, d *wire.Decoder) ([]byte, error) {
	ps := decodeInts(d, len(n.parts))
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if h.tableID != v.id() {
		return nil, errOtherView
	}
	items, done, err := n.scanOwned(ctx, v, ps)
	if err != nil {
		return nil, err
	}
	var enc wire.Encoder
	enc.Uvarint(uint64(len(items)))
	for _, it := range items {
		enc.String(it.token)
		enc.Bytes(it.value)
	}
	encodeInts(&enc, done)
	return enc.B, nil
}

// scanOwned lists the live KindBytes sessions with well-formed tokens in a
// prefix of ps, about maxPullBytes at most (at least one partition), and
// returns the partitions it covered. It refuses, as a read would, a
// partition this node does not own or may not serve yet. The values are
// the stored ones (shared).
func (n *Node) scanOwned(ctx context.Context, v *view, ps []int) (items []scanItem, done []int, err error) {
	now := n.now().UnixNano()
	size := 0
	for _, p := range ps {
		if v.table.Owner(p) != n.name || n.leaving.Load() {
			return nil, nil, errNotOwner
		}
		if err := n.mayServe(v, p); err != nil {
			return nil, nil, err
		}
		if !n.parts[p].isReady() {
			return nil, nil, errNotReady
		}
		if size > maxPullBytes {
			break
		}
		for _, te := range n.parts[p].snapshot() {
			if !wellFormed(te.token) || te.e.kind != KindBytes || !te.e.live(now) {
				continue
			}
			e, err := n.loadFull(ctx, v, p, te.token) // a passivated body comes back
			if err != nil {
				return nil, nil, err
			}
			if !e.live(now) || e.kind != KindBytes {
				continue
			}
			items = append(items, scanItem{token: te.token, value: e.value})
			size += len(te.token) + len(e.value)
		}
		done = append(done, p)
	}
	return items, done, nil
}
