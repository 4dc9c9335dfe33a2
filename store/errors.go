package store

import "errors"

// Sentinel errors. Every error returned by a Node wraps one of these (or a
// context error) with %w and the "store:" prefix, so callers test them with
// errors.Is.
var (
	// ErrClosed is returned by every call on a Node after Close.
	ErrClosed = errors.New("store: node closed")

	// ErrUnavailable means the session's holders could not be reached, or did
	// not yet agree on placement, within the operation timeout. The call may
	// be retried. For a write, an attempt whose reply was lost may still
	// have taken effect (never twice: see ErrUncertain); read the session to
	// find out.
	ErrUnavailable = errors.New("store: session holders unavailable")

	// ErrUncertain means a write was attempted, an attempt may have been
	// applied, and the node could not find out: the write was retried for
	// longer than its id is remembered, or more writes to the session came
	// in meanwhile than are remembered. It was not applied twice.
	ErrUncertain = errors.New("store: write outcome unknown")

	// ErrFull means the node that had to hold the session is at its MaxBytes
	// limit and had nothing it could safely evict. Nothing was written.
	ErrFull = errors.New("store: node memory limit reached")

	// ErrTooLarge means the value exceeds Config.MaxValueBytes. Nothing was
	// written.
	ErrTooLarge = errors.New("store: session too large")

	// ErrConflict means a conditional write (Mutation.IfVersion) found a
	// different version. Nothing was written.
	ErrConflict = errors.New("store: version conflict")

	// ErrNotFound means a conditional write (Mutation.IfExists) found no
	// live session. Nothing was written.
	ErrNotFound = errors.New("store: session not found")

	// ErrLocked means a lock could not be acquired before the context or the
	// lock wait deadline expired. The request must not proceed unlocked.
	ErrLocked = errors.New("store: session locked")

	// ErrLeaseLost means a write carried a lease that is no longer held (it
	// expired, or the owner changed). Nothing was written.
	ErrLeaseLost = errors.New("store: lease lost")

	// ErrKindMismatch means a field mutation was applied to a session that was
	// written with Commit as opaque bytes, or the reverse.
	ErrKindMismatch = errors.New("store: session kind mismatch")

	// ErrInvalidToken means the token is empty or longer than MaxTokenLen or,
	// for Commit, not made of the URL-safe base64 alphabet. Find and Delete
	// never return it: for them a malformed token is a missing session.
	ErrInvalidToken = errors.New("store: invalid token")

	// ErrNotReady is returned by Ready while the node should not receive
	// requests yet, or no longer: it is still pulling its partitions, is cut
	// off from the majority, or is shutting down.
	ErrNotReady = errors.New("store: node not ready")

	// ErrBadConfig wraps every Validate failure.
	ErrBadConfig = errors.New("store: invalid config")

	// ErrBackup wraps failures of the cold tier that are reported to the
	// caller (write-through mode only).
	ErrBackup = errors.New("store: backup failed")
)

// MaxTokenLen bounds session tokens accepted from callers and peers.
const MaxTokenLen = 256
