package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	tokensPerWorker = 200
	clientTimeout   = 4 * time.Second // a little over the node's 3s op bound
	writeShare      = 60              // percent of operations that commit
)

// tokenState is what the clients know about one token. Only its worker
// writes it, with strictly increasing values.
type tokenState struct {
	name  string
	next  int64 // next value to write
	acked int64 // last acknowledged value; 0: none
	// maybe holds every failed commit: it may or may not have applied, and
	// may apply late (a request held by a paused node or a cut link), so
	// even one older than acked can legitimately be the final value.
	maybe map[int64]bool
}

// op is one client operation, times since t0.
type op struct {
	start, end time.Duration
	ok         bool
}

type worker struct {
	id         int
	c          *cluster
	r          *rand.Rand
	client     *http.Client
	tokens     []*tokenState
	ops        []op
	hist       []porcupine.Operation // for the linearizability check
	staleReads int                   // reads that returned a value no write of theirs explains
	errKinds   map[string]int
}

func newWorker(id int, c *cluster, seed uint64) *worker {
	w := &worker{
		id: id, c: c,
		r:        rand.New(rand.NewPCG(seed, uint64(id)+1)),
		client:   newClient(clientTimeout),
		errKinds: map[string]int{},
	}
	for i := range tokensPerWorker {
		w.tokens = append(w.tokens, &tokenState{name: fmt.Sprintf("w%d-t-%d", id, i), next: 1, maybe: map[int64]bool{}})
	}
	return w
}

// run loops until end or ctx ends: each op picks a random live node and a
// random token of this worker, then commits its next value or reads it.
func (w *worker) run(ctx context.Context, t0, end time.Time) {
	for time.Now().Before(end) && ctx.Err() == nil {
		addr, name := w.c.pick(w.r)
		if addr == "" {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		t := w.tokens[w.r.IntN(len(w.tokens))]
		in := regInput{token: t.name, write: w.r.IntN(100) < writeShare}
		start := time.Since(t0)
		var err error
		var got int64
		if in.write {
			in.value, err = w.commit(ctx, addr, t)
		} else {
			got, err = w.read(ctx, addr, t)
		}
		end := time.Since(t0)
		if ctx.Err() != nil {
			break // interrupted: the op says nothing about the store
		}
		w.ops = append(w.ops, op{start: start, end: end, ok: err == nil})
		if err != nil {
			w.errKinds[errKind(err)]++
		}
		if rec, ok := record(w.id, in, got, err, start, end, name); ok {
			w.hist = append(w.hist, rec)
		}
	}
	w.client.CloseIdleConnections()
}

// record turns one client operation into a history entry. A failed write
// may or may not have taken effect, now or later: it returns "never" and so
// is concurrent with everything after its call. A failed read observed
// nothing and is dropped.
func record(client int, in regInput, got int64, err error, start, end time.Duration, node string) (porcupine.Operation, bool) {
	ret := end.Nanoseconds()
	switch {
	case err == nil:
	case in.write:
		ret = neverReturned
	default:
		return porcupine.Operation{}, false
	}
	return porcupine.Operation{ClientId: client, Input: in, Call: start.Nanoseconds(), Output: got, Return: ret, Metadata: node}, true
}

func (w *worker) commit(ctx context.Context, addr string, t *tokenState) (int64, error) {
	v := t.next
	t.next++
	u := "http://" + addr + "/commit?token=" + url.QueryEscape(t.name) + "&value=" + strconv.FormatInt(v, 10)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	resp, err := w.client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("commit %d: %s", resp.StatusCode, b)
		}
	}
	if err != nil {
		t.maybe[v] = true
		return v, err
	}
	t.acked = v
	return v, nil
}

// read reads t and returns its value (0: not found).
func (w *worker) read(ctx context.Context, addr string, t *tokenState) (int64, error) {
	v, found, err := find(ctx, w.client, addr, t.name)
	if err != nil {
		return 0, err
	}
	if !explained(t, v, found) {
		w.staleReads++
	}
	return v, nil
}

// explained reports whether a read of t returning v (found) is one that
// some order of t's writes allows: none acknowledged and nothing found, the
// last acknowledged value, or a write of unknown outcome. Reading an older
// acknowledged value or nothing after an acknowledgement is not.
func explained(t *tokenState, v int64, found bool) bool {
	if !found {
		return t.acked == 0
	}
	return v == t.acked || t.maybe[v]
}

// find reads token through the node at addr.
func find(ctx context.Context, client *http.Client, addr, token string) (v int64, found bool, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/find?token="+url.QueryEscape(token), nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		v, err := strconv.ParseInt(string(b), 10, 64)
		return v, err == nil, err
	case http.StatusNotFound:
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("find %d: %s", resp.StatusCode, b)
	}
}

// errKind groups client errors: the token, call number and peer address in
// a node's message vary from one failure to the next.
func errKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "client timeout"
		}
		return "connection error"
	}
	return errNoise.ReplaceAllString(err.Error(), "*")
}

var errNoise = regexp.MustCompile(`w\d+-t-[\d…]*|call \d+|\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:]+\]:\d+`)

// verification is the end-of-run check of every token.
type verification struct {
	tokens, lost, unreadable int
	examples                 []string
	hist                     []porcupine.Operation // the reads, for the linearizability check
}

// verify reads every token through a random live node (retrying errors a
// few times) and counts tokens whose value is neither the last acknowledged
// one nor that of a failed commit. Its reads join the history as client
// len(ws).
func verify(ctx context.Context, c *cluster, ws []*worker, seed uint64, t0 time.Time) verification {
	r := rand.New(rand.NewPCG(seed, 0x766572))
	client := newClient(clientTimeout)
	defer client.CloseIdleConnections()
	var v verification
	for _, w := range ws {
		for _, t := range w.tokens {
			if ctx.Err() != nil {
				return v
			}
			v.tokens++
			var got int64
			var found bool
			var err error
			for attempt := range 5 {
				addr, name := c.pick(r)
				start := time.Since(t0)
				if got, found, err = find(ctx, client, addr, t.name); err == nil {
					rec, _ := record(len(ws), regInput{token: t.name}, got, nil, start, time.Since(t0), name)
					v.hist = append(v.hist, rec)
					break
				}
				sleep(ctx, time.Duration(attempt+1)*200*time.Millisecond)
			}
			switch {
			case err != nil:
				v.unreadable++
				v.note(fmt.Sprintf("%s: unreadable: %v", t.name, err))
			case !explained(t, got, found):
				v.lost++
				v.note(fmt.Sprintf("%s: found=%v value=%d, acknowledged %d, unknown outcome %v", t.name, found, got, t.acked, keys(t.maybe)))
			}
		}
	}
	return v
}

func (v *verification) note(s string) {
	if len(v.examples) < 10 {
		v.examples = append(v.examples, s)
	}
}

// keys returns m's keys in order.
func keys(m map[int64]bool) []int64 {
	return slices.Sorted(maps.Keys(m))
}
