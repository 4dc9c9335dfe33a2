package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// browser drives a headless Chromium over the DevTools protocol on
// --remote-debugging-pipe: JSON messages separated by NUL bytes, commands
// on the child's fd 3 and replies on its fd 4. It is a real browser: it
// keeps the cookies, submits the forms and follows the redirects itself;
// the test only clicks and reads the page. No WebSocket, no dependency.
type browser struct {
	cmd      *exec.Cmd
	toChrome io.WriteCloser
	done     chan struct{} // closed when Chromium exited
	session  string        // the attached page's session id

	// mu guards nextID, pending and err.
	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpReply
	err     error // why the pipe closed
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// chromiumFlags run Chromium headless without a sandbox (containers, root)
// and keep it off the network: no background services, and every host name
// but loopback fails to resolve.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
	"--remote-debugging-pipe",
}

// findChromium returns Chromium's path. Without it the test skips, except
// under CI=true, where it fails: CI must run it.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found on PATH (Debian package chromium); CI must run the browser test")
	}
	t.Skip("chromium not found on PATH (Debian package chromium)")
	return ""
}

// startBrowser starts Chromium with a fresh profile and attaches to a
// blank page.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium(t)
	cmdR, cmdW, err := os.Pipe() // us -> Chromium (its fd 3)
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // Chromium (its fd 4) -> us
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string(nil), chromiumFlags...), "--user-data-dir="+t.TempDir(), "about:blank")
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	logPath := t.TempDir() + "/chromium.log"
	logf, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	outW.Close()
	b := &browser{cmd: cmd, toChrome: cmdW, done: make(chan struct{}), pending: map[int]chan cdpReply{}}
	go func() { cmd.Wait(); logf.Close(); close(b.done) }()
	go b.readLoop(outR)
	t.Cleanup(func() {
		b.call("", "Browser.close", nil, nil)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-b.done
		}
		cmdW.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("chromium log:\n%s", log)
		}
	})
	var target struct{ TargetID string }
	if err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatalf("Target.createTarget: %v", err)
	}
	var att struct{ SessionID string }
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatalf("Target.attachToTarget: %v", err)
	}
	b.session = att.SessionID
	// A desktop-sized window, the same on every machine, for screenshots.
	viewport := map[string]any{"width": 1100, "height": 1400, "deviceScaleFactor": 1, "mobile": false}
	if err := b.call(b.session, "Emulation.setDeviceMetricsOverride", viewport, nil); err != nil {
		t.Fatalf("Emulation.setDeviceMetricsOverride: %v", err)
	}
	return b
}

// readLoop delivers replies to their callers; events are ignored.
func (b *browser) readLoop(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			b.closePending(fmt.Errorf("chromium pipe closed: %w", err))
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

func (b *browser) closePending(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	for id, ch := range b.pending {
		close(ch)
		delete(b.pending, id)
	}
}

// call sends one command (to the page when session is set) and decodes
// its result into out, waiting at most 10s.
func (b *browser) call(session, method string, params, out any) error {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.toChrome.Write(append(data, 0)); err != nil {
		return err
	}
	select {
	case r, ok := <-ch:
		switch {
		case !ok:
			return errors.New("chromium closed the pipe")
		case r.Error != nil:
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		case out != nil:
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s: no reply within 10s", method)
	}
}

// eval runs a JavaScript expression in the page and decodes its value.
// While the page navigates the evaluation may fail; callers poll.
func (b *browser) eval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("%s: %s", expr, r.ExceptionDetails.Text)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// navigate loads url and waits for the new document.
func (b *browser) navigate(t *testing.T, url string) {
	t.Helper()
	b.markPage(t)
	if err := b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	b.waitNewPage(t, "load "+url)
}

// click clicks the element matched by a CSS selector, like a person
// would, and waits for the page the form submission leads to.
func (b *browser) click(t *testing.T, selector string) {
	t.Helper()
	b.markPage(t)
	expr := fmt.Sprintf(`(() => { const s = %q, e = document.querySelector(s); if (!e) throw new Error("no element " + s); e.click(); return true })()`, selector)
	if err := b.eval(expr, nil); err != nil {
		var html string
		b.eval(`document.documentElement.outerHTML`, &html)
		t.Fatalf("click %s: %v\npage:\n%s", selector, err, html)
	}
	b.waitNewPage(t, "the page after clicking "+selector)
}

// markPage tags the current document, so waitNewPage can tell when it has
// been replaced.
func (b *browser) markPage(t *testing.T) {
	t.Helper()
	if err := b.eval(`window.__old = true`, nil); err != nil {
		t.Fatalf("mark page: %v", err)
	}
}

// waitNewPage polls until a new document has fully loaded.
func (b *browser) waitNewPage(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ready bool
		err := b.eval(`window.__old === undefined && document.readyState === "complete"`, &ready)
		if err == nil && ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for %s (last error %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
