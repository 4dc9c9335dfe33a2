package metrics

import (
	"strconv"

	"github.com/e5b1d45c/sessring/backup"
)

// memcached reports a memcached cold tier's Stats: calls, hits, failovers,
// bytes moved, and the health of each configured server (labelled server,
// addr and failover).
func (e emitter) memcached(s backup.Stats) {
	for _, c := range []counterDef{
		{"sessring_memcached_puts_total", "Put calls.", s.Puts},
		{"sessring_memcached_gets_total", "Get calls.", s.Gets},
		{"sessring_memcached_hits_total", "Gets that returned a value.", s.Hits},
		{"sessring_memcached_misses_total", "Gets that found nothing.", s.Misses},
		{"sessring_memcached_deletes_total", "Delete calls.", s.Deletes},
		{"sessring_memcached_errors_total", "Calls that returned an error.", s.Errors},
		{"sessring_memcached_failovers_total", "Requests answered by a server other than the key's first choice, because that one was down.", s.Failovers},
		{"sessring_memcached_written_bytes_total", "Encoded bytes stored by Put.", s.BytesWritten},
		{"sessring_memcached_read_bytes_total", "Encoded bytes read by Gets that hit.", s.BytesRead},
	} {
		e.counter(c.name, c.help, c.v)
	}
	for _, srv := range s.Servers {
		ls := []label{{"server", srv.ID}, {"addr", srv.Addr}, {"failover", strconv.FormatBool(srv.Failover)}}
		e.gauge("sessring_memcached_server_up", "1 while the server is used, 0 while it is skipped after a network failure.", b2f(srv.Up), ls...)
		e.counter("sessring_memcached_server_failures_total", "Network failures seen on the server.", srv.Failures, ls...)
	}
}
