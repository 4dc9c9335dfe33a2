package metrics

import (
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// sessions reports a middleware Manager's Stats: requests, loads, saves,
// locking and errors, and the time spent in the store.
func (e emitter) sessions(s middleware.Stats) {
	for _, c := range []counterDef{
		{"sessring_sessions_requests_total", "Requests that went through LoadAndSave.", s.Requests},
		{"sessring_sessions_ignored_total", "Requests skipped by IgnorePattern.", s.Ignored},
		{"sessring_sessions_loads_total", "Store loads that found a session.", s.Loads},
		{"sessring_sessions_load_misses_total", "Well-formed tokens with no session (forged, expired or destroyed).", s.LoadMisses},
		{"sessring_sessions_bad_tokens_total", "Malformed or oversized tokens, and sessions of the wrong kind.", s.BadTokens},
		{"sessring_sessions_created_total", "New sessions stored.", s.Created},
		{"sessring_sessions_saves_total", "Delta writes of existing sessions.", s.Saves},
		{"sessring_sessions_skipped_unchanged_total", "Requests whose session needed no store write.", s.SkippedUnchanged},
		{"sessring_sessions_touches_total", "Idle-deadline refreshes.", s.Touches},
		{"sessring_sessions_in_place_changes_total", "Values changed in place without Put, detected and saved.", s.InPlaceChanges},
		{"sessring_sessions_decode_failures_total", "Stored values dropped because they did not decode.", s.DecodeFailures},
		{"sessring_sessions_destroyed_total", "Sessions deleted by Destroy.", s.Destroyed},
		{"sessring_sessions_renewed_total", "RenewToken calls that moved a stored session.", s.Renewed},
		{"sessring_sessions_lock_acquired_total", "Session locks taken.", s.LockAcquired},
		{"sessring_sessions_lock_timeouts_total", "Requests failed because the session lock was not free within LockWait.", s.LockTimeouts},
		{"sessring_sessions_relocks_total", "Writes whose lock was lost with an owner change and that committed after locking again, the session unchanged.", s.Relocks},
		{"sessring_sessions_lock_auto_skipped_total", "LockAuto requests run unlocked on a route learned to be read-only.", s.LockAutoSkipped},
		{"sessring_sessions_lock_auto_misses_total", "Unlocked LockAuto requests that did change the session.", s.LockAutoMisses},
		{"sessring_sessions_late_writes_total", "Changes made after the response was sent that could not be saved.", s.LateWrites},
		{"sessring_sessions_vanished_total", "Writes that found their session destroyed or expired meanwhile (changes dropped).", s.Vanished},
		{"sessring_sessions_detached_total", "Manager.Session calls outside LoadAndSave.", s.Detached},
		{"sessring_sessions_too_large_total", "Writes refused because the session would exceed MaxSessionBytes.", s.TooLarge},
		{"sessring_sessions_errors_total", "Requests answered by ErrorFunc, and failed late writes and touches.", s.Errors},
		{"sessring_sessions_capped_total", "Oldest sessions of a user ended past MaxSessionsPerUser.", s.Capped},
	} {
		e.counter(c.name, c.help, c.v)
	}
	e.send("sessring_sessions_load_time_seconds_total", "Time spent loading sessions from the store.", prometheus.CounterValue, s.LoadTime.Seconds())
	e.send("sessring_sessions_save_time_seconds_total", "Time spent writing sessions to the store (creates, saves, touches).", prometheus.CounterValue, s.SaveTime.Seconds())
	e.send("sessring_sessions_lock_wait_seconds_total", "Time spent waiting for session locks.", prometheus.CounterValue, s.LockWaitTime.Seconds())
}
