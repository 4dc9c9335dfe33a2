package metrics

import (
	"sync"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// StoreStats is implemented by *store.Node.
type StoreStats interface {
	Stats() store.Stats
}

// SessionStats is implemented by *middleware.Manager.
type SessionStats interface {
	Stats() middleware.Stats
}

// MemcachedStats is implemented by *backup.Memcached.
type MemcachedStats interface {
	Stats() backup.Stats
}

// Sources are what a Collector and the status document report on. Each is
// optional; leave out what you do not run (a nil *backup.Memcached stored
// in the interface is not "left out": assign it only when there is one).
type Sources struct {
	Node      StoreStats     // *store.Node: series labelled node="<name>"
	Sessions  SessionStats   // *middleware.Manager
	Memcached MemcachedStats // *backup.Memcached
	Recorder  *Recorder      // latency histograms and events
}

// Collector is a prometheus.Collector for one node's Sources. Register it
// in your own registry:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(src))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Each scrape takes one Stats snapshot per source. To register two of the
// same kind (two Managers with different cookies, say), wrap the registry
// with prometheus.WrapRegistererWith and a distinguishing label.
type Collector struct {
	src Sources

	// mu guards descs.
	mu    sync.Mutex
	descs map[string]*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of src.
func NewCollector(src Sources) *Collector {
	return &Collector{src: src, descs: make(map[string]*prometheus.Desc)}
}

// Describe implements prometheus.Collector: the series are fixed by the
// sources, so it describes what one collection produces.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{c: c, ch: ch}
	node := ""
	if c.src.Node != nil {
		s := c.src.Node.Stats()
		node = s.Name
		e.store(&s)
	}
	if c.src.Sessions != nil {
		e.sessions(c.src.Sessions.Stats())
	}
	if c.src.Memcached != nil {
		e.memcached(c.src.Memcached.Stats())
	}
	if c.src.Recorder != nil {
		e.latency(c.src.Recorder, node, c.src.Sessions != nil)
	}
}

// desc returns the Desc of name, made on first use. The node label is a
// constant of the Desc (a node's name never changes), which is what lets
// the Collectors of several nodes share a registry.
func (c *Collector) desc(name, help string, labels []string, node string) *prometheus.Desc {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.descs[name]
	if d == nil {
		var constLabels prometheus.Labels
		if node != "" {
			constLabels = prometheus.Labels{"node": node}
		}
		d = prometheus.NewDesc(name, help, labels, constLabels)
		c.descs[name] = d
	}
	return d
}

// label is one name="value" pair of a series.
type label struct{ name, value string }

// emitter sends one collection's metrics.
type emitter struct {
	c  *Collector
	ch chan<- prometheus.Metric
}

func (e emitter) send(name, help string, typ prometheus.ValueType, v float64, labels ...label) {
	names, values, node := split(labels)
	e.ch <- prometheus.MustNewConstMetric(e.c.desc(name, help, names, node), typ, v, values...)
}

func (e emitter) counter(name, help string, v uint64, labels ...label) {
	e.send(name, help, prometheus.CounterValue, float64(v), labels...)
}

func (e emitter) gauge(name, help string, v float64, labels ...label) {
	e.send(name, help, prometheus.GaugeValue, v, labels...)
}

// histogram sends the values kept in h under name and labels.
func (e emitter) histogram(name, help string, h prometheus.Histogram, labels ...label) {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return
	}
	hist := m.GetHistogram()
	buckets := make(map[float64]uint64, len(hist.GetBucket()))
	for _, b := range hist.GetBucket() {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	names, values, node := split(labels)
	e.ch <- prometheus.MustNewConstHistogram(e.c.desc(name, help, names, node), hist.GetSampleCount(), hist.GetSampleSum(), buckets, values...)
}

// split separates the variable labels' names and values, and the node.
func split(labels []label) (names, values []string, node string) {
	for _, l := range labels {
		if l.name == "node" {
			node = l.value
			continue
		}
		names = append(names, l.name)
		values = append(values, l.value)
	}
	return names, values, node
}

// counterDef names one cumulative counter.
type counterDef struct {
	name, help string
	v          uint64
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
