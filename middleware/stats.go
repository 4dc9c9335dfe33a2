package middleware

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Manager's counters since New (the probes MSM users
// know from enableStatistics). All counts are cumulative.
type Stats struct {
	Requests         uint64 // requests that went through LoadAndSave (ignored paths excluded)
	Ignored          uint64 // requests skipped by IgnorePattern
	Loads            uint64 // store loads that found a session
	LoadMisses       uint64 // well-formed tokens with no session (forged, expired or destroyed)
	BadTokens        uint64 // malformed or oversized tokens, and sessions of the wrong kind
	Created          uint64 // new sessions stored
	Saves            uint64 // delta writes of existing sessions
	SkippedUnchanged uint64 // requests whose session needed no store write
	Touches          uint64 // idle-deadline refreshes (Touch mutations)
	InPlaceChanges   uint64 // values changed in place without Put, detected and saved
	DecodeFailures   uint64 // stored values dropped because they did not decode
	Destroyed        uint64 // sessions deleted by Destroy
	Capped           uint64 // oldest sessions of a user ended past MaxSessionsPerUser
	Renewed          uint64 // RenewToken calls that moved a stored session
	LockAcquired     uint64 // locks taken
	LockTimeouts     uint64 // requests failed with ErrLockTimeout
	// Relocks counts writes whose lease was lost (the session's owner
	// changed) and that committed after locking again, the session
	// unchanged meanwhile.
	Relocks         uint64
	LockAutoSkipped uint64 // LockAuto requests run unlocked on a learned read-only route
	LockAutoMisses  uint64 // of those, requests that did change the session
	LateWrites      uint64 // changes after the response was sent that could not be saved
	Vanished        uint64 // writes that found their session destroyed or expired meanwhile (changes dropped)
	Detached        uint64 // Manager.Session calls outside LoadAndSave
	TooLarge        uint64 // writes refused with ErrSessionTooLarge
	Errors          uint64 // requests answered by ErrorFunc, and failed late writes and touches

	LoadTime     time.Duration // total time in store loads
	SaveTime     time.Duration // total time in store writes (creates, saves, touches)
	LockWaitTime time.Duration // total time waiting for locks
}

// counters are the live values behind Stats.
type counters struct {
	requests, ignored, loads, loadMisses, badTokens       atomic.Uint64
	created, saves, skipped, touches, inPlace, decodeFail atomic.Uint64
	destroyed, renewed, lockAcquired, lockTimeouts        atomic.Uint64
	relocks                                               atomic.Uint64
	autoSkipped, autoMisses, lateWrites, detached         atomic.Uint64
	tooLarge, errors, vanished, capped                    atomic.Uint64
	loadNanos, saveNanos, lockNanos                       atomic.Int64
}

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{
		Requests: c.requests.Load(), Ignored: c.ignored.Load(),
		Loads: c.loads.Load(), LoadMisses: c.loadMisses.Load(), BadTokens: c.badTokens.Load(),
		Created: c.created.Load(), Saves: c.saves.Load(), SkippedUnchanged: c.skipped.Load(),
		Touches: c.touches.Load(), InPlaceChanges: c.inPlace.Load(), DecodeFailures: c.decodeFail.Load(),
		Destroyed: c.destroyed.Load(), Capped: c.capped.Load(), Renewed: c.renewed.Load(),
		LockAcquired: c.lockAcquired.Load(), LockTimeouts: c.lockTimeouts.Load(), Relocks: c.relocks.Load(),
		LockAutoSkipped: c.autoSkipped.Load(), LockAutoMisses: c.autoMisses.Load(),
		LateWrites: c.lateWrites.Load(), Vanished: c.vanished.Load(), Detached: c.detached.Load(),
		TooLarge: c.tooLarge.Load(), Errors: c.errors.Load(),
		LoadTime:     time.Duration(c.loadNanos.Load()),
		SaveTime:     time.Duration(c.saveNanos.Load()),
		LockWaitTime: time.Duration(c.lockNanos.Load()),
	}
}

// since adds the time elapsed from start to a duration counter and
// returns it.
func since(d *atomic.Int64, start time.Time) time.Duration {
	el := time.Since(start)
	d.Add(int64(el))
	return el
}

// Observer receives the latency of each store call the middleware makes:
// ObserveLoad for a session load, ObserveSave for a write (create, save,
// touch). Calls are concurrent, on the request path: they must be fast and
// must not block. Package metrics implements it with histograms.
type Observer interface {
	ObserveLoad(d time.Duration)
	ObserveSave(d time.Duration)
}
