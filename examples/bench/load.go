package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// vsession is one simulated user: its cookies and the last counter value
// the server acknowledged.
type vsession struct {
	id      int
	cookies map[string]string
	acked   int // last counter value answered; 0 before the first request
	unsure  int // failed requests since then (they may have applied)
}

// token returns the session token cookie, whichever backend set it.
func (s *vsession) token() string {
	for _, name := range []string{"sessring", blobCookie} {
		if v, ok := s.cookies[name]; ok {
			return v
		}
	}
	return ""
}

// outcome classifies one request.
type outcome uint8

const (
	outOK      outcome = iota
	outFailed          // transport error or non-200 status
	outLost            // the counter went back: an acknowledged update vanished
	outSkipped         // the counter jumped further than unacknowledged requests explain
)

// event is one finished request, for phases that watch requests as they
// finish (failover).
type event struct {
	sess       *vsession
	start, end time.Time
	out        outcome
	detail     string
}

// loader drives sessions through the load balancer: each of conc workers
// owns perWorker sessions and requests them in turn, one at a time.
type loader struct {
	url      string
	client   *http.Client
	sessions []*vsession
	conc     int
	validate bool        // check counters (not for the floor)
	observe  func(event) // optional, called from the workers
}

func newLoader(lbAddr string, conc, perWorker int, validate bool) *loader {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc
	l := &loader{
		url:      "http://" + lbAddr + "/",
		client:   &http.Client{Transport: tr, Timeout: 10 * time.Second},
		conc:     conc,
		validate: validate,
	}
	for i := range conc * perWorker {
		l.sessions = append(l.sessions, &vsession{id: i, cookies: map[string]string{}})
	}
	return l
}

// prime sends every session its first request (creating it), in parallel.
func (l *loader) prime() error {
	var wg sync.WaitGroup
	errs := make([]error, l.conc)
	for w := range l.conc {
		wg.Go(func() {
			for _, s := range l.mine(w) {
				if ev := l.do(context.Background(), s); ev.out != outOK {
					errs[w] = fmt.Errorf("priming session %d: %s", s.id, ev.detail)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// mine is worker w's share of the sessions.
func (l *loader) mine(w int) []*vsession {
	var out []*vsession
	for i := w; i < len(l.sessions); i += l.conc {
		out = append(out, l.sessions[i])
	}
	return out
}

// loadResult sums up a run.
type loadResult struct {
	lat     samples
	elapsed time.Duration
	counts  [4]int // by outcome
	errs    map[string]int
}

func (r *loadResult) requests() int {
	return r.counts[outOK] + r.counts[outFailed] + r.counts[outLost] + r.counts[outSkipped]
}

// run loads the sessions until ctx ends.
func (l *loader) run(ctx context.Context) *loadResult {
	res := &loadResult{errs: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range l.conc {
		wg.Go(func() {
			local := &loadResult{errs: map[string]int{}}
			mine := l.mine(w)
			for i := 0; ctx.Err() == nil; i++ {
				ev := l.do(ctx, mine[i%len(mine)])
				if ev.out == outFailed && ctx.Err() != nil {
					break // cut off by the end of the run, not an error
				}
				local.add(ev)
				if l.observe != nil {
					l.observe(ev)
				}
			}
			mu.Lock()
			res.merge(local)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (r *loadResult) add(ev event) {
	r.counts[ev.out]++
	if ev.out == outOK {
		r.lat.add(ev.end.Sub(ev.start))
	} else if len(r.errs) < 20 {
		r.errs[ev.detail]++
	}
}

func (r *loadResult) merge(o *loadResult) {
	r.lat.merge(&o.lat)
	for i := range r.counts {
		r.counts[i] += o.counts[i]
	}
	for k, v := range o.errs {
		r.errs[k] += v
	}
}

// do sends one request for s and checks the answer.
func (l *loader) do(ctx context.Context, s *vsession) event {
	ev := event{sess: s, start: time.Now()}
	body, err := l.request(ctx, s)
	ev.end = time.Now()
	if err != nil {
		s.unsure++
		ev.out, ev.detail = outFailed, shortErr(err)
		return ev
	}
	ev.out = l.check(s, body)
	if ev.out != outOK {
		ev.detail = fmt.Sprintf("counter %s after %d (+%d unsure)", body, s.acked, s.unsure)
	}
	if n, err := strconv.Atoi(body); err == nil {
		s.acked, s.unsure = n, 0
	}
	return ev
}

func (l *loader) check(s *vsession, body string) outcome {
	n, err := strconv.Atoi(body)
	switch {
	case !l.validate:
		return outOK
	case err != nil:
		return outFailed
	case n <= s.acked:
		return outLost
	case n > s.acked+1+s.unsure:
		return outSkipped
	}
	return outOK
}

// request POSTs, because the handler changes the session: a GET may be
// retried by http.Transport on a fresh connection when a backend dies after
// running it, which would apply the update twice.
func (l *loader) request(ctx context.Context, s *vsession) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", l.url, nil)
	if err != nil {
		return "", err
	}
	for k, v := range s.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(s.cookies, c.Name)
		} else {
			s.cookies[c.Name] = c.Value
		}
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// shortErr keeps error details groupable: no addresses, ports or tokens.
func shortErr(err error) string {
	s := err.Error()
	for _, cut := range []string{"dial tcp", "read tcp", "write tcp", "Get \""} {
		if i := strings.Index(s, cut); i >= 0 {
			if j := strings.LastIndex(s, ": "); j > i {
				return strings.TrimSpace(s[:i]) + " " + s[j+2:]
			}
		}
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

func (l *loader) close() { l.client.CloseIdleConnections() }
