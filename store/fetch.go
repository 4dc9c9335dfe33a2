package store

import (
	"context"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// Fetch: one session copied from another holder on demand, where a pull
// copies whole partitions (pull.go). An owner whose partition is still
// being pulled fetches a session a request needs first (fetchKey); a stub
// whose body the backup lost is fetched from the other holder
// (fetchFromPeers). Both send mFetch (fetchFrom, serveFetch).

// fetchKey brings one session up to date on an owner whose partition is
// still being pulled, by asking every previous holder for it.
func (n *Node) fetchKey(ctx context.Context, v *view, p int, token string) error {
	srcs, stranded := n.parts[p].pullSources(v)
	if stranded {
		return errStranded
	}
	full := false
	for _, src := range srcs {
		e, complete, err := n.fetchFrom(ctx, v, src, token)
		if err != nil {
			return err
		}
		full = full || complete
		if e != nil {
			n.parts[p].merge(token, e, &n.used)
		}
	}
	if !full && !n.parts[p].mayCompleteWithout(v) {
		return errStranded // the only complete copy may be on a lost member
	}
	return nil
}

// fetchFrom asks src for its copy of token, and whether src holds the
// token's partition completely.
func (n *Node) fetchFrom(ctx context.Context, v *view, src, token string) (*entry, bool, error) {
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	enc.String(token)
	resp, err := n.call(ctx, v, src, mFetch, enc.B)
	if err != nil {
		return nil, false, err
	}
	d := wire.NewDecoder(resp)
	e, err := decodeOptEntry(d, token)
	complete := d.Bool()
	if err == nil {
		err = d.Finish()
	}
	return e, complete, err
}

func (n *Node) serveFetch(v *view, h header, d *wire.Decoder) ([]byte, error) {
	token, err := readToken(d)
	if err != nil {
		return nil, err
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if h.tableID != v.id() && !n.leaving.Load() {
		return nil, errOtherView
	}
	part := n.parts[v.table.Partition(token)]
	complete := part.isReady() && !n.cutOff.Load()
	var enc wire.Encoder
	encodeOptEntry(&enc, part.get(token))
	enc.Bool(complete)
	return enc.B, nil
}

// fetchFromPeers asks the other current holder of p for token.
func (n *Node) fetchFromPeers(ctx context.Context, v *view, p int, token string) error {
	o, r := v.table.Holders(p)
	peer := o
	if o == n.name {
		peer = r
	}
	if peer == "" {
		return errNotReady
	}
	e, _, err := n.fetchFrom(ctx, v, peer, token)
	if err == nil && e != nil {
		n.parts[p].merge(token, e, &n.used)
	}
	return err
}
