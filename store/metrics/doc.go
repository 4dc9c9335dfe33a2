// Package metrics exposes a sessring node's counters to monitoring: a
// Prometheus text-format endpoint and a JSON status document.
//
// # Prometheus
//
// Handler serves the text exposition format (version 0.0.4), written by
// hand so that embedding sessring adds no client library:
//
//	mux.Handle("GET /metrics", metrics.Handler(
//		metrics.Node(node),         // *store.Node
//		metrics.Sessions(sessions), // *middleware.Manager
//		metrics.Memcached(mc),      // *backup.Memcached, optional
//	))
//
// Each scrape takes one Stats snapshot per source. Store series carry a
// node label (the node's name), so several nodes of one process can share
// an endpoint; give several Managers or Memcacheds a distinguishing label
// with Label. A scrape whose sources would produce the same series twice
// fails with 500 rather than emit an exposition Prometheus rejects.
//
// Names follow Prometheus conventions: a sessring_ prefix, then the
// component (store, sessions, memcached); counters end in _total, times are
// in seconds and sizes in bytes.
//
// # Status
//
// StatusHandler serves Status as JSON: the members this node sees, its
// share of the partition table, the session copies it holds and its repair
// backlog (partitions still being pulled after a membership change plus
// sessions waiting for the cold tier). It is meant for people and scripts
// asking "is this node done catching up?", not for scraping.
package metrics
