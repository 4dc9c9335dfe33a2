package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/metrics"
	"github.com/e5b1d45c/sessring/store"
)

// directoryToken names the record holding each member's HTTP address (see
// "Per-member counts" in the package doc). ':' keeps it out of the session
// token alphabet, so the middleware never loads it for a cookie.
const directoryToken = "sessring-demo:members"

const (
	registerRetry   = 500 * time.Millisecond
	registerRefresh = 30 * time.Second
	peerTimeout     = time.Second
	directoryWait   = 300 * time.Millisecond // then use the last copy read
)

// registerSelf records name's HTTP address. Apply changes only this field,
// so members registering at once do not overwrite each other.
func registerSelf(node *store.Node, name, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := node.Apply(ctx, directoryToken, store.Mutation{Set: map[string][]byte{name: []byte(url)}})
	return err
}

// unregister removes this node's entry on a graceful shutdown, after
// stopping the refresh that would add it back.
func (a *app) unregister(ctx context.Context) {
	a.stopRegistering()
	_, err := a.node.Apply(ctx, directoryToken, store.Mutation{Delete: []string{a.name}, IfExists: true})
	if err != nil {
		a.log.Debug("directory unregistration failed", "err", err)
	}
}

// memberView is one member's share of the sessions. Counts are null when
// the member did not answer.
type memberView struct {
	Name     string `json:"name"`
	Owned    *int   `json:"owned"`
	Replicas *int   `json:"replicas"`
	// For the status picture (/api/node and /api/status only).
	OwnedBytes   *int64                `json:"owned_bytes,omitempty"`
	ReplicaBytes *int64                `json:"replica_bytes,omitempty"`
	Pending      *int                  `json:"pending,omitempty"` // partitions still being pulled
	Events       []metrics.EventStatus `json:"events,omitempty"`  // what this member saw
}

// clusterView is the /api/cluster document.
type clusterView struct {
	Self    string       `json:"self"`
	Members []memberView `json:"members"`
}

// ownCounts reports the sessions this node holds as owner and replica,
// without the directory record.
func (a *app) ownCounts() memberView {
	s := a.node.Stats()
	owned, replicas := s.OwnedSessions, s.ReplicaSessions
	switch owner, replica := a.node.Locate(directoryToken); a.name {
	case owner:
		owned = max(owned-1, 0)
	case replica:
		replicas = max(replicas-1, 0)
	}
	ob, rb, pending := s.OwnedBytes, s.ReplicaBytes, s.PartitionsPending
	v := memberView{Name: a.name, Owned: &owned, Replicas: &replicas, OwnedBytes: &ob, ReplicaBytes: &rb, Pending: &pending}
	for _, e := range a.rec.Events() {
		v.Events = append(v.Events, metrics.NewEventStatus(e))
	}
	return v
}

// cluster asks every live member for its counts, in parallel, each bounded
// by peerTimeout.
func (a *app) cluster(ctx context.Context) clusterView {
	members := a.node.Members()
	slices.Sort(members)
	urls := a.lookupURLs(ctx)
	views := make([]memberView, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if m == a.name {
			views[i] = a.ownCounts()
			continue
		}
		views[i] = memberView{Name: m}
		if u := urls[m]; u != "" {
			wg.Go(func() { views[i] = a.askPeer(ctx, m, u) })
		}
	}
	wg.Wait()
	return clusterView{Self: a.name, Members: views}
}

// lookupURLs reads the directory, or returns the last copy read when it
// cannot be read now: right after a crash the record may be owned by the
// dead node until the others notice, and the live members have not moved
// meanwhile (without the copy they were all shown as not answering).
func (a *app) lookupURLs(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, directoryWait)
	defer cancel()
	rec, ok, err := a.node.Load(ctx, directoryToken)
	if err != nil || !ok {
		a.urlsMu.Lock()
		defer a.urlsMu.Unlock()
		return a.urls
	}
	urls := make(map[string]string, len(rec.Fields))
	for name, u := range rec.Fields {
		urls[name] = string(u)
	}
	a.urlsMu.Lock()
	a.urls = urls
	a.urlsMu.Unlock()
	return urls
}

// askPeer fetches a member's own counts from its /api/node.
func (a *app) askPeer(ctx context.Context, name, url string) memberView {
	v := memberView{Name: name}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/node", nil)
	if err != nil {
		return v
	}
	resp, err := a.peers.Do(req)
	if err != nil {
		return v
	}
	defer resp.Body.Close()
	var got memberView
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&got) != nil || got.Name != name {
		return v
	}
	return got
}
