package middleware

import (
	"context"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// Store is the seam to the session cluster. *store.Node implements it; tests
// and examples use the in-memory twin in internal/memstore. Only the value
// passed to New changes between the two.
//
// Contract (the parts the middleware relies on):
//   - Load returns (zero, false, nil) for a missing or expired session and
//     never returns expired data; err is for system failures only.
//   - Apply is atomic at the session's owner and changes only the fields named
//     in the mutation, so concurrent requests that change different fields
//     both survive. It creates an absent session, fails with store.ErrConflict
//     when m.Create finds one, with store.ErrNotFound when m.IfExists finds
//     none (missing, expired or deleted), with store.ErrLeaseLost when
//     m.Lease is not held, and with store.ErrKindMismatch for a session of
//     KindBytes. The returned record is the session after the write.
//   - DeleteCtx of a missing session returns nil.
//   - Lock blocks until the cluster-wide lease is free or ctx is done; then it
//     returns an error wrapping store.ErrLocked. A lease whose holder died
//     expires after ttl.
//   - NewToken(true) mints a token owned by the calling node, so a sticky load
//     balancer keeps the session's requests on its owner.
//   - Record.Fields of a returned record must not be modified by the caller.
//   - Every method may be called concurrently; all honour ctx.
type Store interface {
	Load(ctx context.Context, token string) (store.Record, bool, error)
	Apply(ctx context.Context, token string, m store.Mutation) (store.Record, error)
	DeleteCtx(ctx context.Context, token string) error
	Lock(ctx context.Context, token string, ttl time.Duration) (lease uint64, err error)
	Unlock(ctx context.Context, token string, lease uint64) error
	NewToken(local bool) (string, error)
}

// ExpiryNotifier is implemented by stores that report expired sessions
// (*store.Node does). New registers Config.OnExpire through it; a store
// without it makes New fail when OnExpire is set, rather than never firing.
//
// The store calls fn once per expired session, on the node that owned it,
// which is not necessarily the node that served the session's requests.
type ExpiryNotifier interface {
	OnExpire(fn func(token string, r store.Record))
}
