package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
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
	next  int64          // next value to write
	acked int64          // last acknowledged value; 0: none
	maybe map[int64]bool // failed commits after acked: may or may not have applied
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
	staleReads int // reads that returned less than the value acknowledged before they started
	errKinds   map[string]int
}

func newWorker(id int, c *cluster, seed uint64) *worker {
	w := &worker{
		id: id, c: c,
		r:        rand.New(rand.NewPCG(seed, uint64(id)+1)),
		client:   &http.Client{Timeout: clientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
		errKinds: map[string]int{},
	}
	for i := range tokensPerWorker {
		w.tokens = append(w.tokens, &tokenState{name: fmt.Sprintf("w%d-t-%d", id, i), next: 1, maybe: map[int64]bool{}})
	}
	return w
}

// run loops until end: each op picks a random live node and a random token
// of this worker, then commits its next value or reads it.
func (w *worker) run(t0, end time.Time) {
	for time.Now().Before(end) {
		addr := w.c.pick(w.r)
		if addr == "" {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		t := w.tokens[w.r.IntN(len(w.tokens))]
		start := time.Since(t0)
		var err error
		if w.r.IntN(100) < writeShare {
			err = w.commit(addr, t)
		} else {
			err = w.read(addr, t)
		}
		w.ops = append(w.ops, op{start: start, end: time.Since(t0), ok: err == nil})
		if err != nil {
			w.errKinds[errKind(err)]++
		}
	}
	w.client.CloseIdleConnections()
}

func (w *worker) commit(addr string, t *tokenState) error {
	v := t.next
	t.next++
	u := "http://" + addr + "/commit?token=" + url.QueryEscape(t.name) + "&value=" + strconv.FormatInt(v, 10)
	resp, err := w.client.Post(u, "", nil)
	if err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("commit %d: %s", resp.StatusCode, b)
		}
	}
	if err != nil {
		t.maybe[v] = true
		return err
	}
	t.acked = v
	clear(t.maybe) // values are increasing: older maybes can no longer be the final value
	return nil
}

func (w *worker) read(addr string, t *tokenState) error {
	v, found, err := find(w.client, addr, t.name)
	if err != nil {
		return err
	}
	if (!found && t.acked > 0) || (found && v < t.acked) {
		w.staleReads++
	}
	return nil
}

// find reads token through the node at addr.
func find(client *http.Client, addr, token string) (v int64, found bool, err error) {
	resp, err := client.Get("http://" + addr + "/find?token=" + url.QueryEscape(token))
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

func errKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "client timeout"
		}
		return "connection error"
	}
	return err.Error()
}

// verification is the end-of-run check of every token.
type verification struct {
	tokens, lost, unreadable int
	examples                 []string
}

// verify reads every token through a random live node (retrying errors a
// few times) and counts tokens whose value is neither the last acknowledged
// one nor a "maybe" written after it.
func verify(c *cluster, ws []*worker, seed uint64) verification {
	r := rand.New(rand.NewPCG(seed, 0x766572))
	client := &http.Client{Timeout: clientTimeout}
	var v verification
	for _, w := range ws {
		for _, t := range w.tokens {
			v.tokens++
			var got int64
			var found bool
			var err error
			for attempt := range 5 {
				if got, found, err = find(client, c.pick(r), t.name); err == nil {
					break
				}
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			}
			switch {
			case err != nil:
				v.unreadable++
				v.note(fmt.Sprintf("%s: unreadable: %v", t.name, err))
			case !found && t.acked == 0:
			case found && (got == t.acked || (got > t.acked && t.maybe[got])):
			default:
				v.lost++
				v.note(fmt.Sprintf("%s: found=%v value=%d, acknowledged %d, maybe %v", t.name, found, got, t.acked, keys(t.maybe)))
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

func keys(m map[int64]bool) []int64 {
	var ks []int64
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
