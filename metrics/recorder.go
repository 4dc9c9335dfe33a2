package metrics

import (
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Buckets are the latency histograms' upper bounds in seconds: 100µs
// doubling to about 13s, so that an in-memory read, a forwarded one, a
// replication round trip and a request waiting out a failover (seconds)
// each land in a bucket of their own.
var Buckets = prometheus.ExponentialBuckets(0.0001, 2, 18)

// maxEvents is how many recent membership events a Recorder keeps.
const maxEvents = 100

// Recorder keeps latency histograms and the recent membership events of one
// node and its Manager. Give it to both as their Observer:
//
//	rec := metrics.NewRecorder()
//	cfg.Observer = rec  // store.Config
//	mcfg.Observer = rec // middleware.Config
//
// A Collector reads it (Sources.Recorder), and the status document lists
// its events. Observing costs one atomic histogram update, no lock; events
// (rare) take a mutex. Use one Recorder per node.
type Recorder struct {
	ops        [store.OpPull + 1]prometheus.Histogram // by store.Op
	load, save prometheus.Histogram

	// mu guards events, the most recent last.
	mu     sync.Mutex
	events []store.Event
}

var (
	_ store.Observer      = (*Recorder)(nil)
	_ middleware.Observer = (*Recorder)(nil)
)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	for i := range r.ops {
		r.ops[i] = newHistogram()
	}
	r.load, r.save = newHistogram(), newHistogram()
	return r
}

// newHistogram is storage only: the Collector exposes its values under
// their names and labels.
func newHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unused", Buckets: Buckets})
}

// ObserveOp implements store.Observer.
func (r *Recorder) ObserveOp(op store.Op, d time.Duration) {
	if int(op) < len(r.ops) {
		r.ops[op].Observe(d.Seconds())
	}
}

// ObserveEvent implements store.Observer.
func (r *Recorder) ObserveEvent(e store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == maxEvents {
		copy(r.events, r.events[1:])
		r.events = r.events[:maxEvents-1]
	}
	r.events = append(r.events, e)
}

// ObserveLoad implements middleware.Observer.
func (r *Recorder) ObserveLoad(d time.Duration) { r.load.Observe(d.Seconds()) }

// ObserveSave implements middleware.Observer.
func (r *Recorder) ObserveSave(d time.Duration) { r.save.Observe(d.Seconds()) }

// Events returns the recent membership events, oldest first.
func (r *Recorder) Events() []store.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Event(nil), r.events...)
}
