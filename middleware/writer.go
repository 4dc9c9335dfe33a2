package middleware

import (
	"bufio"
	"net"
	"net/http"
)

// responseWriter saves the session just before the response headers leave:
// on the first WriteHeader (1xx informational headers excepted), Write, Flush
// or Hijack. It buffers nothing. Unwrap lets http.ResponseController reach
// the features of the writer underneath.
//
// If saving fails, ErrorFunc answers the request instead, and the handler's
// later writes are dropped with that error, so a client never sees a success
// whose session change was lost.
type responseWriter struct {
	http.ResponseWriter
	s *Session
	r *http.Request

	committed bool  // the session was saved (or failed to be)
	err       error // the save failure that replaced the response
	status    int   // the final status code written, 0 until known
}

// commit saves the session once; false means the response was replaced.
func (w *responseWriter) commit() bool {
	if w.committed {
		return w.err == nil
	}
	w.committed = true
	if err := w.s.commitResponse(w.r, w.ResponseWriter.Header()); err != nil {
		w.err = err
		w.s.m.fail(w.ResponseWriter, w.r, err)
		return false
	}
	return true
}

// WriteHeader implements http.ResponseWriter.
func (w *responseWriter) WriteHeader(code int) {
	informational := code >= 100 && code < 200 && code != http.StatusSwitchingProtocols
	if !informational && !w.commit() {
		return
	}
	if w.err == nil {
		if !informational && w.status == 0 {
			w.status = code
		}
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write implements http.ResponseWriter.
func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.commit() {
		return 0, w.err
	}
	if w.status == 0 {
		w.status = http.StatusOK // implied by a write without WriteHeader
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is what http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	if !w.commit() {
		return w.err
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker. The session is saved first; the cookie
// cannot travel on a hijacked connection.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.commit() {
		return nil, nil, w.err
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// failed reports whether the response was an error: a status of 400 or
// more, or a save failure that replaced it (ErrorFunc's status is not
// seen here, but it is always an error).
func (w *responseWriter) failed() bool {
	return w.err != nil || w.status >= http.StatusBadRequest
}

// finish runs when the handler returned: it saves the session if nothing
// was written, or saves changes made after the headers went out.
func (w *responseWriter) finish() {
	if !w.committed {
		w.commit()
		return
	}
	if w.err == nil {
		w.s.commitLate(w.r)
	}
}
