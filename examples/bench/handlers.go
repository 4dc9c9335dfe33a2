package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/store"
)

// The benchmark handler, the same for every backend: load the session,
// read a counter, store counter+1, answer the new value. A new session gets
// the payload (spec.Size incompressible bytes) and counter 1. Clients check
// the answers, so a lost update shows up as a counter that went back.

// routes serves the handler on "/" and the parent's probes on "/_...".
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	switch a.spec.Backend {
	case backendSessring:
		mux.Handle("/", a.mgr.LoadAndSave(http.HandlerFunc(a.sessringCounter)))
		mux.HandleFunc("/_owner", a.owner)
		mux.HandleFunc("/_fill", a.fill)
	case backendNone:
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("1")) })
	default:
		mux.HandleFunc("/", a.blobCounter)
	}
	mux.HandleFunc("/_stats", a.stats)
	mux.HandleFunc("/_profile", pprof.Profile) // CPU profile for -profile
	return mux
}

// sessringCounter is the handler under middleware.LoadAndSave: only the
// changed key (the counter) is sent to the store, as a delta.
func (a *app) sessringCounter(w http.ResponseWriter, r *http.Request) {
	s := a.mgr.Session(r)
	n := s.GetInt("counter")
	if n == 0 {
		s.Put("data", a.filler)
	}
	s.Put("counter", n+1)
	w.Write(strconv.AppendInt(nil, int64(n+1), 10))
}

// blobStore is a session server: the whole session is read and written as
// one value per request (memcached-session-manager non-sticky, or a Redis
// session store).
type blobStore interface {
	Get(key string) ([]byte, bool, error)
	Set(key string, val []byte, ttl time.Duration) error
}

type memcachedBlobs struct{ c *memcache.Client }

func (m memcachedBlobs) Get(key string) ([]byte, bool, error) {
	it, err := m.c.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return it.Value, true, nil
}

func (m memcachedBlobs) Set(key string, val []byte, ttl time.Duration) error {
	return m.c.Set(&memcache.Item{Key: key, Value: val, Expiration: int32(ttl / time.Second)})
}

const (
	blobCookie = "sid"
	blobTTL    = time.Hour
)

// blobCounter loads the session blob (8-byte counter, then the payload),
// increments the counter and writes the whole blob back.
func (a *app) blobCounter(w http.ResponseWriter, r *http.Request) {
	var blob []byte
	tok := blobToken(r)
	if tok != "" {
		b, found, err := a.blobs.Get("sess:" + tok)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if found && len(b) >= 8 {
			blob = b
		}
	}
	if blob == nil { // new session, or the client's one is gone
		tok = newBlobToken()
		blob = append(make([]byte, 8, 8+len(a.filler)), a.filler...)
		http.SetCookie(w, &http.Cookie{Name: blobCookie, Value: tok, Path: "/", HttpOnly: true})
	}
	n := binary.LittleEndian.Uint64(blob) + 1
	binary.LittleEndian.PutUint64(blob, n)
	if err := a.blobs.Set("sess:"+tok, blob, blobTTL); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write(strconv.AppendUint(nil, n, 10))
}

// blobToken returns the client's token if it looks like one we minted
// (43 URL-safe base64 characters), so it is safe as a memcached key.
func blobToken(r *http.Request) string {
	c, err := r.Cookie(blobCookie)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return ""
	}
	return c.Value
}

func newBlobToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// appStats is what /_stats reports; with ?gc=1 the heap is measured after
// a full collection.
type appStats struct {
	Name      string `json:"name"`
	Members   int    `json:"members"`
	Pending   int    `json:"pending"`
	Sessions  int    `json:"sessions"` // owned + replica copies
	BytesHeld int64  `json:"bytes_held"`
	HeapAlloc uint64 `json:"heap_alloc"`
	Forwarded uint64 `json:"forwarded"` // store calls sent on to the owner
}

func (a *app) stats(w http.ResponseWriter, r *http.Request) {
	st := appStats{Name: a.spec.Name}
	if a.node != nil {
		s := a.node.Stats()
		st.Members, st.Pending = len(s.Members), s.PartitionsPending
		st.Sessions, st.BytesHeld = s.OwnedSessions+s.ReplicaSessions, s.BytesHeld
		st.Forwarded = s.Forwarded
	}
	if r.URL.Query().Has("gc") {
		runtime.GC()
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.HeapAlloc = ms.HeapAlloc
	json.NewEncoder(w).Encode(st)
}

// owner answers "<owner> <replica>" of ?token= under this node's view.
func (a *app) owner(w http.ResponseWriter, r *http.Request) {
	o, rep := a.node.Locate(r.URL.Query().Get("token"))
	fmt.Fprintf(w, "%s %s", o, rep)
}

// fill creates ?n= sessions shaped like the handler's (payload and counter
// fields), through this node, and answers how many failed.
func (a *app) fill(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	n = min(max(n, 0), 1_000_000)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if a.fillOne(r.Context()) != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	fmt.Fprint(w, failed.Load())
}

func (a *app) fillOne(ctx context.Context) error {
	tok, err := a.node.NewToken(false)
	if err != nil {
		return err
	}
	_, err = a.node.Apply(ctx, tok, store.Mutation{
		Set:    map[string][]byte{"data": a.filler, "counter": {1}},
		Expiry: time.Now().Add(time.Hour),
		Create: true,
	})
	return err
}
