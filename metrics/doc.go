// Package metrics reports a sessring node to monitoring: a Prometheus
// collector to register in your own registry, latency histograms, and a
// JSON status document.
//
// # Prometheus
//
// A Recorder keeps latency histograms and recent membership events; give it
// to the node and the Manager as their Observer. A Collector turns the
// sources' Stats and the Recorder into Prometheus series:
//
//	rec := metrics.NewRecorder()
//	cfg.Observer = rec  // store.Config, before store.Open
//	mcfg.Observer = rec // middleware.Config, before middleware.New
//	...
//	src := metrics.Sources{Node: node, Sessions: sessions, Memcached: mc, Recorder: rec}
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(src))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//	mux.Handle("GET /status", metrics.StatusHandler(src))
//
// Names follow Prometheus conventions: a sessring_ prefix, then the
// component (store, sessions, memcached); counters end in _total, times
// are in seconds and sizes in bytes. Store series carry node="<name>".
//
// Latency histograms (buckets from 100µs to about 13s, see Buckets):
//
//	sessring_store_read_seconds{node,path="local"|"forwarded"}
//	sessring_store_write_seconds{node,path="local"|"forwarded"}
//	sessring_store_replicate_seconds{node}   owner to replica, acknowledged
//	sessring_store_pull_seconds{node}     one pull after a membership change
//	sessring_sessions_load_seconds           the middleware's load, per request
//	sessring_sessions_save_seconds           the middleware's write, per request
//
// For example, the 99th percentile of forwarded reads over five minutes:
//
//	histogram_quantile(0.99, rate(sessring_store_read_seconds_bucket{path="forwarded"}[5m]))
//
// # Status
//
// StatusHandler serves Status as JSON: the members this node sees, its
// share of the partition table, the session copies it holds, its repair
// backlog (partitions still being pulled after a membership change plus
// sessions waiting for the cold tier) and, with a Recorder, the recent
// membership events (joined, failed with its detection time, left, caught
// up). It is meant for people and scripts asking "is this node done
// catching up?", not for scraping.
package metrics
