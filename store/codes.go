package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/e5b1d45c/sessring/internal/rpc"
)

// Internal conditions that make the router retry: placement is moving or a
// holder is not reachable yet. They never reach callers unwrapped; after
// OpTimeout the caller gets ErrUnavailable.
var (
	errNotOwner  = errors.New("store: not the owner under this node's view")
	errNotReady  = errors.New("store: partition pull in progress")
	errNotHolder = errors.New("store: not a holder under this node's view")
	errOtherView = errors.New("store: peer has another placement view")
	errRaced     = errors.New("store: concurrent update, retry")
	errPeerGone  = errors.New("store: peer is shutting down")
	errNoQuorum  = errors.New("store: this node sees a minority of the cluster")
	errStranded  = errors.New("store: every holder of this session is unreachable")
)

// Remote error codes (application codes start at 100).
const (
	codeNotOwner uint16 = 100 + iota
	codeNotReady
	codeNotHolder
	codeOtherView
	codeRaced
	codeClosed
	codeFull
	codeTooLarge
	codeConflict
	codeLocked
	codeLeaseLost
	codeKindMismatch
	codeInvalidToken
	codeBackup
	codeUnavailable
	codeNotFound
	codeNoQuorum
	codeStranded
	codeUncertain
)

var codeErrors = []struct {
	code uint16
	err  error
}{
	{codeNotOwner, errNotOwner}, {codeNotReady, errNotReady}, {codeNotHolder, errNotHolder},
	{codeOtherView, errOtherView}, {codeRaced, errRaced}, {codeClosed, ErrClosed},
	{codeFull, ErrFull}, {codeTooLarge, ErrTooLarge}, {codeConflict, ErrConflict},
	{codeLocked, ErrLocked}, {codeLeaseLost, ErrLeaseLost}, {codeKindMismatch, ErrKindMismatch},
	{codeInvalidToken, ErrInvalidToken}, {codeBackup, ErrBackup}, {codeUnavailable, ErrUnavailable},
	{codeNotFound, ErrNotFound}, {codeNoQuorum, errNoQuorum}, {codeStranded, errStranded},
	{codeUncertain, ErrUncertain},
}

// toRemote turns a handler error into a wire error with a code. A peer the
// handler could not reach (say the replica died) is reported as unavailable,
// which the sender retries.
func toRemote(err error) error {
	if errors.Is(err, rpc.ErrUnreachable) || errors.Is(err, errPeerGone) {
		return &rpc.RemoteError{Code: codeUnavailable, Msg: err.Error()}
	}
	for _, ce := range codeErrors {
		if errors.Is(err, ce.err) {
			return &rpc.RemoteError{Code: ce.code, Msg: err.Error()}
		}
	}
	return err
}

// fromRemote turns a Call error back into our sentinels, keeping the
// message. Unknown codes stay as they are.
func fromRemote(peer string, err error) error {
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		if re.Code == codeClosed {
			return fmt.Errorf("%w (%s)", errPeerGone, peer)
		}
		for _, ce := range codeErrors {
			if ce.code == re.Code {
				return fmt.Errorf("%w (from %s: %s)", ce.err, peer, re.Msg)
			}
		}
		return fmt.Errorf("store: peer %s: %w", peer, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("store: peer %s: %w", peer, err)
}

// retryable reports whether the router should try again: placement is in
// flux or a holder is unreachable until membership notices.
func retryable(err error) bool {
	for _, e := range []error{errNotOwner, errNotReady, errNotHolder, errOtherView, errRaced, errPeerGone, errNoQuorum, errStranded, rpc.ErrUnreachable, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
