package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/e5b1d45c/sessring/store"
)

// Sentinel errors. Errors returned or passed to ErrorFunc wrap one of these,
// or a store sentinel (store.ErrUnavailable, store.ErrLeaseLost, ...), with
// %w and the "middleware:" prefix; test them with errors.Is.
var (
	// ErrBadConfig wraps every Config.Validate failure.
	ErrBadConfig = errors.New("middleware: invalid config")

	// ErrLockTimeout means the session's lock was not free within
	// Config.LockWait. The handler was not called.
	ErrLockTimeout = errors.New("middleware: session lock wait timed out")

	// ErrSessionTooLarge means a write would make the session exceed
	// Config.MaxSessionBytes (or the store's own limit). Nothing was stored.
	ErrSessionTooLarge = errors.New("middleware: session too large")

	// ErrBadToken means a token is empty, longer than store.MaxTokenLen or
	// not URL-safe base64. Requests carrying one are treated as having no
	// session.
	ErrBadToken = errors.New("middleware: malformed session token")

	// ErrDecode wraps a value that could not be decoded. The middleware
	// drops such a value (logged and counted) instead of failing requests.
	ErrDecode = errors.New("middleware: cannot decode session value")

	// ErrNoSession is returned by Destroy and RenewToken on a detached
	// session (Manager.Session outside LoadAndSave).
	ErrNoSession = errors.New("middleware: no session in request context")

	// ErrHeadersWritten is returned by RenewToken once the response headers
	// were written: the new token could no longer reach the client.
	ErrHeadersWritten = errors.New("middleware: response headers already written")
)

// StatusFor maps an error from the middleware to the HTTP status the default
// ErrorFunc answers with: 503 for conditions worth retrying (lock timeout,
// store unavailable, full or closed, lease lost, store timeout), 500 for the
// rest.
func StatusFor(err error) int {
	for _, retry := range []error{ErrLockTimeout, store.ErrUnavailable, store.ErrFull, store.ErrClosed,
		store.ErrLeaseLost, context.DeadlineExceeded} {
		if errors.Is(err, retry) {
			return http.StatusServiceUnavailable
		}
	}
	return http.StatusInternalServerError
}

// defaultErrorFunc logs the error and answers with StatusFor(err).
func (m *Manager) defaultErrorFunc(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusFor(err)
	m.log.LogAttrs(r.Context(), slog.LevelError, "session middleware failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", code), slog.Any("error", err))
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, http.StatusText(code), code)
}

// fail answers a request that cannot proceed.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	m.stats.errors.Add(1)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody reads the answer
	}
	m.errorFunc(w, r, err)
}
