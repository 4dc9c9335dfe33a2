package demo

import (
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/metrics"
)

// The status picture: the cluster drawn as cards (members, their state, the
// sessions and bytes each holds as owner and replica, partitions pending),
// the viewer's session placed on them, and a timeline of recent membership
// events. One script draws it from /api/status, on the demo page and on
// /status; everything is served by the node (no CDN, works offline).

// Member states in the picture.
const (
	stateAlive  = "alive"  // in this node's view
	stateFailed = "failed" // disappeared without leaving (latest event)
	stateLeft   = "left"   // left gracefully
	stateDown   = "down"   // a demo node that is not running
)

// eventWindow is how far back the timeline reaches.
const eventWindow = 10 * time.Minute

// memberState is one card of the picture.
type memberState struct {
	memberView
	State    string `json:"state"`
	Answered bool   `json:"answered"` // counts known (a live member that answered)
}

// statusView is the /api/status document.
type statusView struct {
	Self    string                `json:"self"`
	Now     time.Time             `json:"now"`
	Session *sessionView          `json:"session"` // the viewer's, or null
	Members []memberState         `json:"members"`
	Events  []metrics.EventStatus `json:"events"` // every member's, oldest first
}

// status builds the picture's data from c, the cluster as this node sees
// it, and the viewer's session s (nil without one).
func (a *app) status(c clusterView, s *sessionView) statusView {
	now := time.Now()
	v := statusView{Self: a.name, Now: now, Session: s, Members: []memberState{}, Events: []metrics.EventStatus{}}
	seen := map[string]bool{}
	for _, m := range c.Members {
		v.Members = append(v.Members, memberState{memberView: m, State: stateAlive, Answered: m.Owned != nil})
		seen[m.Name] = true
		v.Events = append(v.Events, m.Events...)
	}
	v.Events = dedupEvents(v.Events, now)
	latest := map[string]string{} // member -> its latest joined/failed/left
	for _, e := range v.Events {
		if e.Member != "" {
			latest[e.Member] = e.Kind
		}
	}
	add := func(name, state string) {
		if !seen[name] {
			seen[name] = true
			v.Members = append(v.Members, memberState{memberView: memberView{Name: name}, State: state})
		}
	}
	for _, e := range v.Events {
		if k := latest[e.Member]; k == "failed" || k == "left" {
			add(e.Member, map[string]string{"failed": stateFailed, "left": stateLeft}[k])
		}
	}
	for _, name := range a.controls {
		add(name, stateDown)
	}
	for i := range v.Members {
		v.Members[i].Events = nil // sent once, in v.Events
	}
	sort.SliceStable(v.Members, func(i, j int) bool { return v.Members[i].Name < v.Members[j].Name })
	return v
}

// dedupEvents keeps each node's report of an event once (two members'
// reports of the same failure both stay: each says when it noticed), drops
// those older than eventWindow, and sorts them by time.
func dedupEvents(evs []metrics.EventStatus, now time.Time) []metrics.EventStatus {
	out := evs[:0:0]
	for _, e := range evs {
		if now.Sub(e.Time) <= eventWindow && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func (a *app) apiStatus(w http.ResponseWriter, r *http.Request) {
	var s *sessionView
	if v, ok := a.view(a.sessions.Session(r)); ok {
		s = &v
	}
	writeJSON(w, http.StatusOK, a.status(a.cluster(r.Context()), s))
}

// statusPage serves /status: the picture for a browser, the metrics
// status document (JSON) for everyone else and for /status?json.
func (a *app) statusPage(jsonStatus http.Handler) http.Handler {
	html := a.sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *sessionView
		if v, ok := a.view(a.sessions.Session(r)); ok {
			s = &v
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := statusTmpl.Execute(w, a.status(a.cluster(r.Context()), s)); err != nil {
			a.log.Warn("status page", "err", err)
		}
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, asJSON := r.URL.Query()["json"]; asJSON || !strings.Contains(r.Header.Get("Accept"), "text/html") {
			jsonStatus.ServeHTTP(w, r) // no session load: scripts must not wait out a failover
			return
		}
		html.ServeHTTP(w, r)
	})
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sessring status · {{.Self}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}` + pictureCSS + `</style>
</head><body>
<h1>sessring status <span class="note">as {{.Self}} sees the cluster</span></h1>
` + pictureHTML + `
<p class="note"><a href="/status?json">JSON</a> ·
<a href="/metrics">/metrics</a> · <a href="/">demo page</a></p>
<script>const initialStatus = {{.}};</script>
<script>` + pictureJS + `</script>
</body></html>
`))
