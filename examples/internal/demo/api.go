package demo

import (
	"net/http"

	"github.com/e5b1d45c/sessring/middleware"
)

// sessionView is the /api/incr and /api/session document.
type sessionView struct {
	Session  string `json:"session"` // ShortID of the token
	Count    int    `json:"count"`
	ServedBy string `json:"served_by"`
	Owner    string `json:"owner"`
	Replica  string `json:"replica"`
}

// view describes s as this node sees it; false when s is not stored (no
// session, or its first save failed).
func (a *app) view(s *middleware.Session) (sessionView, bool) {
	tok := s.Token()
	if tok == "" {
		return sessionView{}, false
	}
	owner, replica := a.node.Locate(tok)
	return sessionView{Session: ShortID(tok), Count: s.GetInt(counterKey), ServedBy: a.name, Owner: owner, Replica: replica}, true
}

// increment adds one to the counter and saves the session before the
// response body starts, so a new session has its token (and the client
// its cookie) by the time the caller describes it. False means the save
// failed and the middleware has already answered.
func (a *app) increment(w http.ResponseWriter, r *http.Request, code int) (*middleware.Session, bool) {
	s := a.sessions.Session(r)
	s.Put(counterKey, s.GetInt(counterKey)+1)
	w.WriteHeader(code) // commits the session: see middleware's "When the session is saved"
	return s, s.Token() != ""
}

func (a *app) apiIncr(w http.ResponseWriter, r *http.Request) {
	jsonHeaders(w)
	s, ok := a.increment(w, r, http.StatusOK)
	if !ok {
		return
	}
	v, _ := a.view(s)
	writeBody(w, v)
}

func (a *app) apiSession(w http.ResponseWriter, r *http.Request) {
	v, ok := a.view(a.sessions.Session(r))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no session"})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *app) apiCluster(w http.ResponseWriter, r *http.Request) {
	c := a.cluster(r.Context())
	for i := range c.Members {
		m := &c.Members[i]
		m.OwnedBytes, m.ReplicaBytes, m.Pending, m.Events = nil, nil, nil, nil // the picture's, not this document's
	}
	writeJSON(w, http.StatusOK, c)
}

func (a *app) apiNode(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.ownCounts())
}
