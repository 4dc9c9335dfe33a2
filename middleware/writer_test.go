package middleware

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestCommitOnFirstWriteWithoutBuffering(t *testing.T) {
	proceed := make(chan struct{})
	var e *env
	e = newEnv(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("step", 1)
		io.WriteString(w, "first\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through ResponseController: %v", err)
		}
		<-proceed
		io.WriteString(w, "second\n")
	}))
	resp, err := e.client().Get(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c := sessionCookie(resp)
	if c == nil {
		t.Fatal("headers arrived without the session cookie")
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk = %q, %v; want it before the handler finished", line, err)
	}
	if v, _ := e.stored(c.Value, "step"); v != 1 {
		t.Errorf("session not stored when the first chunk arrived (step = %v)", v)
	}
	close(proceed)
}

func TestHijackThroughResponseController(t *testing.T) {
	var e *env
	e = newEnv(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("upgraded", true)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		buf.Flush()
	}))
	_, body, _ := e.get(e.client(), "/")
	if body != "ok" {
		t.Errorf("body = %q, want ok", body)
	}
	if e.st.Len() != 1 || e.m.Stats().Created != 1 {
		t.Errorf("session not saved before the hijack (stored %d)", e.st.Len())
	}
}

func TestInformationalHeadersDoNotCommit(t *testing.T) {
	var e *env
	e = newEnv(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		e.m.Session(r).Put("k", "after hints")
		io.WriteString(w, "done")
	}))
	_, body, resp := e.get(e.client(), "/")
	c := sessionCookie(resp)
	if body != "done" || c == nil {
		t.Fatalf("body %q cookie %v: want the cookie on the final response", body, c)
	}
	if v, _ := e.stored(c.Value, "k"); v != "after hints" {
		t.Errorf("stored k = %v, want the value put after 103", v)
	}
}

func TestWriterUnwrap(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok || u.Unwrap() == nil {
			t.Errorf("wrapper has no Unwrap")
		}
		if _, ok := w.(http.Flusher); !ok {
			t.Errorf("wrapper is not an http.Flusher")
		}
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusOK) // superfluous: passed on, net/http decides
	}), getReq())
	if rec.Code != http.StatusCreated {
		t.Errorf("status = %d, want 201", rec.Code)
	}
	if !strings.Contains(rec.Header().Get("Vary"), "Cookie") {
		t.Errorf("Vary = %q", rec.Header().Get("Vary"))
	}
}
