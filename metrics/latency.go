package metrics

import "github.com/e5b1d45c/sessring/store"

// latency reports the Recorder's histograms: the store's under
// node="<name>" (when the Collector has a Node), the middleware's without
// (when it has Sessions, as the middleware's counters).
func (e emitter) latency(r *Recorder, node string, sessions bool) {
	if node != "" {
		e.storeLatency(r, label{"node", node})
	}
	if sessions {
		e.histogram("sessring_sessions_load_seconds", "Session loads by the middleware, per request that had a session cookie.", r.load)
		e.histogram("sessring_sessions_save_seconds", "Session writes by the middleware (create, save, touch), per request that wrote.", r.save)
	}
}

func (e emitter) storeLatency(r *Recorder, node label) {
	const (
		read  = "sessring_store_read_seconds"
		write = "sessring_store_write_seconds"
	)
	readHelp := "Session loads, by path: local (this node owns the session) or forwarded (to its owner)."
	writeHelp := "Session writes (commit, apply, delete, touch; not lock waits), by path: local or forwarded."
	local, forwarded := label{"path", "local"}, label{"path", "forwarded"}
	e.histogram(read, readHelp, r.ops[store.OpReadLocal], node, local)
	e.histogram(read, readHelp, r.ops[store.OpReadForwarded], node, forwarded)
	e.histogram(write, writeHelp, r.ops[store.OpWriteLocal], node, local)
	e.histogram(write, writeHelp, r.ops[store.OpWriteForwarded], node, forwarded)
	e.histogram("sessring_store_replicate_seconds", "Versions sent by the owner to the replica, until acknowledged.", r.ops[store.OpReplicate], node)
	e.histogram("sessring_store_pull_seconds", "Partition pulls from one source after a membership change (all pages).", r.ops[store.OpPull], node)
}
