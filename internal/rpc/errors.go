package rpc

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// Sentinel errors. Errors returned by this package, other than a
// *RemoteError from the peer's handler, wrap one of these (or a context
// error) with %w and the "rpc:" prefix; test them with errors.Is.
var (
	// ErrUnreachable means no reply will come: the connection could not be
	// set up (dial, TLS handshake) or it broke before the reply arrived. The
	// request may or may not have run on the peer.
	ErrUnreachable = errors.New("rpc: peer unreachable")

	// ErrNotSent is wrapped, together with the cause (ErrUnreachable,
	// ErrClosed, a context error), by the errors of calls that failed
	// before their request was written: the peer cannot have run it.
	// Without it, a failed call's request may or may not have run.
	ErrNotSent = errors.New("rpc: request not sent")

	// ErrClosed is returned by Client calls after Client.Close, including
	// calls that were waiting when Close was called.
	ErrClosed = errors.New("rpc: client closed")

	// ErrServerClosed is returned by Server.Serve after Server.Close.
	ErrServerClosed = errors.New("rpc: server closed")

	// ErrFrameTooLarge means a frame body exceeds Config.MaxFrame: an
	// outgoing request is refused before sending, an incoming frame closes
	// its connection.
	ErrFrameTooLarge = errors.New("rpc: frame too large")

	// ErrBadFrame means an incoming frame was malformed (bad magic or
	// version, unknown kind, truncated, or unexpected on this side); its
	// connection is closed.
	ErrBadFrame = errors.New("rpc: malformed frame")

	// ErrBadConfig wraps every Config.Validate failure.
	ErrBadConfig = errors.New("rpc: invalid config")
)

// Generic error codes carried by RemoteError. Codes below 100 are reserved
// for this package; applications (the store) number theirs from
// CodeApplication up.
const (
	// CodeInternal is sent for handler errors that are not a *RemoteError,
	// for handler panics and for replies too large to send.
	CodeInternal uint16 = 1
	// CodeBadRequest is for handlers that cannot decode a request body.
	CodeBadRequest uint16 = 2
	// CodeUnknownMethod is for handlers that do not know the method opcode
	// (a newer peer during a rolling upgrade).
	CodeUnknownMethod uint16 = 3
	// CodeShuttingDown is for handlers of a node that is closing: the caller
	// should retry on another holder.
	CodeShuttingDown uint16 = 4
	// CodeApplication is the first code free for application use.
	CodeApplication uint16 = 100
)

// maxErrorMsg bounds the message of an error reply, so an error that quotes a
// huge input cannot push the reply over the caller's MaxFrame.
const maxErrorMsg = 4 << 10

// RemoteError is an error returned by the peer's Handler, as received by the
// caller. Handlers return one to choose the code; Client.Call returns one
// (test with errors.As) whenever the handler failed.
type RemoteError struct {
	Code uint16
	Msg  string
}

// Error implements error.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc: remote error %d: %s", e.Code, e.Msg)
}

// toRemote maps a handler error to the code and message sent to the caller.
func toRemote(err error) (uint16, string) {
	code, msg := CodeInternal, err.Error()
	if re, ok := errors.AsType[*RemoteError](err); ok {
		code, msg = re.Code, re.Msg
	}
	if len(msg) > maxErrorMsg {
		msg = msg[:maxErrorMsg]
	}
	return code, msg
}

// errIsClosedConn reports whether err only says the connection was closed
// locally, which is not worth a log line.
func errIsClosedConn(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
