package demo

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// Paths the examples/cluster load balancer answers itself (the page posts
// to them when Options.Controls is set), with the node's name in the form
// field "node".
const (
	CrashPath = "/cluster/crash"
	StartPath = "/cluster/start"
	NodeField = "node"
	// MsgParam carries a one-line notice for the page, such as what the
	// balancer just did.
	MsgParam = "msg"
)

// pageData is what the page shows.
type pageData struct {
	Self     string
	Session  *sessionView // nil without a session
	Rows     []memberRow
	Controls bool
	Msg      string
	Status   statusView // drawn by pictureJS
}

// memberRow is one line of the member table.
type memberRow struct {
	memberView
	Member bool // in the serving node's view of the cluster
	Role   string
}

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{Self: a.name, Controls: len(a.controls) > 0, Msg: r.URL.Query().Get(MsgParam)}
	if len(d.Msg) > 500 {
		d.Msg = d.Msg[:500]
	}
	if v, ok := a.view(a.sessions.Session(r)); ok {
		d.Session = &v
	}
	c := a.cluster(r.Context())
	d.Rows = a.rows(c, d.Session)
	d.Status = a.status(c, d.Session)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, d); err != nil {
		a.log.Warn("page", "err", err)
	}
}

// rows lists the live members with their counts, then the demo's nodes
// that are not members (stopped, or not yet noticed as started).
func (a *app) rows(c clusterView, s *sessionView) []memberRow {
	var rows []memberRow
	for _, m := range c.Members {
		row := memberRow{memberView: m, Member: true}
		var notes []string
		if s != nil {
			switch m.Name {
			case s.Owner:
				notes = append(notes, "owner of your session")
			case s.Replica:
				notes = append(notes, "replica of your session")
			}
		}
		if m.Owned == nil {
			notes = append(notes, "did not answer")
		}
		row.Role = strings.Join(notes, " · ")
		rows = append(rows, row)
	}
	for _, name := range a.controls {
		if !slices.ContainsFunc(rows, func(row memberRow) bool { return row.Name == name }) {
			rows = append(rows, memberRow{memberView: memberView{Name: name}})
		}
	}
	return rows
}

func (a *app) incrForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", "/")
	a.increment(w, r, http.StatusSeeOther)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sessring demo · {{.Self}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}` + pictureCSS + `
code{font-size:1.1em;background:#f3f3f3;padding:0 .3em}
.count{font-size:3rem;font-weight:700}
.msg{background:#fff6d5;border:1px solid #e5c96b;padding:.5rem 1rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd}
form{display:inline}button{font-size:1rem;padding:.3rem .9rem;margin:.2rem .3rem .2rem 0}
.down{color:#999}.note{color:#666;font-size:.9rem}
</style></head><body>
<h1>sessring demo</h1>
{{with .Msg}}<p class="msg" id="msg">{{.}}</p>{{end}}
<p>This page was served by <b id="served-by">{{.Self}}</b>.</p>
{{with .Session}}
<p>Your session <code id="session">{{.Session}}</code>
<span class="note">(first 12 hex digits of the SHA-256 of its token; the token itself stays in an HttpOnly cookie)</span></p>
<p class="count" id="count">{{.Count}}</p>
<p>Owner <b id="owner">{{.Owner}}</b>, replica <b id="replica">{{.Replica}}</b>
<span class="note">(as {{.ServedBy}} sees the cluster)</span></p>
{{else}}
<p id="no-session">No session yet. <span class="count" id="count">0</span></p>
{{end}}
<p><form method="post" action="/incr"><button id="incr">Increment</button></form>
{{if .Controls}}<form method="post" action="` + CrashPath + `"><input type="hidden" name="` + NodeField + `" value="{{.Self}}"><button id="crash">Crash {{.Self}} (SIGKILL)</button></form>{{end}}
<a href="/">Refresh</a></p>
{{if .Controls}}<p class="note">Crash kills the node that served this page with SIGKILL: no handover, no goodbye.
The others notice within about three seconds (requests for the sessions it owned wait until then)
and each of its sessions' replica takes over as owner. Refresh, and the counter is still there.</p>{{end}}
` + pictureHTML + `
<h2>Members <span class="note">as {{.Self}} sees them</span></h2>
<table id="members"><tr><th>node</th><th>sessions owned</th><th>replicas held</th><th></th>{{if .Controls}}<th></th>{{end}}</tr>
{{range .Rows}}<tr data-node="{{.Name}}"{{if not .Member}} class="down"{{end}}>
<td>{{.Name}}</td>
{{if .Member}}<td>{{with .Owned}}{{.}}{{else}}?{{end}}</td><td>{{with .Replicas}}{{.}}{{else}}?{{end}}</td><td>{{.Role}}</td>
{{else}}<td colspan="3">not a member</td>{{end}}
{{if $.Controls}}<td>{{if .Member}}<form method="post" action="` + CrashPath + `"><input type="hidden" name="` + NodeField + `" value="{{.Name}}"><button>crash</button></form>
{{else}}<form method="post" action="` + StartPath + `"><input type="hidden" name="` + NodeField + `" value="{{.Name}}"><button class="start">start</button></form>{{end}}</td>{{end}}
</tr>
{{end}}</table>
<p class="note"><a href="/api/session">/api/session</a> · <a href="/api/cluster">/api/cluster</a> ·
<a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
<script>
// The notice is for this visit only: drop it from the address, so that a
// reload does not show "n1 was killed" again.
if (new URLSearchParams(location.search).has("` + MsgParam + `")) history.replaceState(null, "", location.pathname);
const initialStatus = {{.Status}};
</script>
<script>` + pictureJS + `</script>
</body></html>
`))
