package store

import (
	"context"
	"time"
)

// Backup is the seam to the optional cold tier (package backup implements it
// with memcached). The store owns write-behind queueing, retries and
// passivation; a Backup only moves bytes.
//
// Contract:
//   - Put stores data for the token until expiry (zero expiry: no expiry). It
//     returns only when the value is stored or the attempt failed.
//   - Get returns (nil, false, nil) when nothing is stored; err is for system
//     failures only (unreachable, timeout, corrupt or unauthenticated value).
//   - Delete of a missing token returns nil.
//   - All methods may be called concurrently and must honour ctx.
//   - data is owned by the Backup after Put returns nil only if it copies it;
//     the store does not modify it afterwards either way.
type Backup interface {
	Put(ctx context.Context, token string, data []byte, expiry time.Time) error
	Get(ctx context.Context, token string) (data []byte, found bool, err error)
	Delete(ctx context.Context, token string) error
	Close() error
}

// BackupMode chooses when Commit and Apply return relative to the backup
// write.
type BackupMode uint8

const (
	// WriteBehind (default) queues the latest version of each session and
	// writes it within BackupDelay. Loss window on a full-cluster crash: the
	// writes of the last BackupDelay plus any backlog while memcached is down.
	WriteBehind BackupMode = iota
	// WriteThrough makes writes return only after the backup write succeeded;
	// a backup failure fails the write with ErrBackup.
	WriteThrough
)
