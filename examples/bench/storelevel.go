package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/store"
)

// Store level: this process opens a node and joins two app server
// processes, so the three nodes of the cluster are three processes, and
// calls its own node directly. "Owner-local" tokens are owned by this node;
// "remote" ones by another process. memcached and Redis are called from
// this process too, through gomemcache and go-redis.

// opMaker returns a fresh operation for one worker: op(i) performs the i-th
// call with buffers private to that worker.
type opMaker func() func(i int) error

// opResult is one store-level row's measurement: latency and throughput of
// one caller, then throughput of conc callers.
type opResult struct {
	p50, p99 time.Duration
	seq, par float64 // ops/s
	errors   int
	cpu      *cpuUse // CPU time of the row's processes while conc callers ran
	parOps   int     // operations the conc callers completed
}

const storeKeys = 64 // sessions cycled through per row

// measure runs op for d/2 from one caller, then for d/2 from conc callers,
// charging the CPU time of procs during the latter. prof, when not nil,
// profiles a further run of conc callers after that, so profiling costs
// none of the measured figures; it lasts d/2 rounded up to whole seconds,
// the unit the node's profile takes, so the profiles end with the run.
func measure(mk opMaker, d time.Duration, conc int, procs *cpuSet, prof func(d time.Duration) (stop func())) (opResult, error) {
	op := mk()
	if err := warmUp(op); err != nil {
		return opResult{}, err
	}
	var r opResult
	var lat samples
	start, n := time.Now(), 0
	for end := start.Add(d / 2); time.Now().Before(end); n++ {
		t0 := time.Now()
		err := op(n)
		lat.add(time.Since(t0))
		if err != nil {
			r.errors++
		}
	}
	r.seq = float64(n) / time.Since(start).Seconds()
	r.p50, r.p99 = lat.percentiles()
	var errs int
	cpu, err := measureCPU(procs, func() {
		r.par, r.parOps, errs = parallel(mk, d/2, conc)
	})
	if err != nil {
		return r, fmt.Errorf("CPU time: %w", err)
	}
	r.cpu, r.errors = cpu, r.errors+errs
	if prof != nil {
		pd := max(time.Second, (d/2 + time.Second - 1).Truncate(time.Second))
		stop := prof(pd)
		parallel(mk, pd, conc)
		stop()
	}
	return r, nil
}

// warmUp runs op until 200 calls succeeded, for at most 10 seconds (the
// cluster may still be taking its read leases).
func warmUp(op func(int) error) error {
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for i, good := 0, 0; good < 200; i++ {
		if err = op(i); err == nil {
			good++
		} else if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// parallel runs conc workers for d and returns ops/s, operations and errors.
func parallel(mk opMaker, d time.Duration, conc int) (float64, int, int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	ops, errs := 0, 0
	start := time.Now()
	end := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			op := mk()
			n, e := 0, 0
			for i := w * 1_000_000; time.Now().Before(end); i++ {
				if op(i) != nil {
					e++
				}
				n++
			}
			mu.Lock()
			ops, errs = ops+n, errs+e
			mu.Unlock()
		})
	}
	wg.Wait()
	return float64(ops) / time.Since(start).Seconds(), ops, errs
}

// storeCluster is this process's node plus two app processes.
type storeCluster struct {
	node *store.Node
	apps []*appProc
}

func openStoreCluster(key []byte, size int) (*storeCluster, error) {
	apps, err := startApps(appSpec{Backend: backendSessring, Key: key, Size: size}, 2)
	if err != nil {
		return nil, err
	}
	cfg := store.DefaultConfig()
	cfg.Name = "bench-local"
	cfg.Join = []string{apps[0].gossip}
	cfg.SecretKey = key
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := store.Open(cfg)
	if err != nil {
		stopApps(apps)
		return nil, err
	}
	c := &storeCluster{node: n, apps: apps}
	if err := c.settle(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *storeCluster) settle() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := c.node.Stats()
		if len(s.Members) == 3 && s.PartitionsPending == 0 {
			return waitSettled(c.apps, 3, time.Until(deadline))
		}
		if time.Now().After(deadline) {
			return errors.New("store cluster did not settle within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processes is what a sessring row uses: this process (the calling node
// and the load) and the two node processes.
func (c *storeCluster) processes() *cpuSet {
	s := &cpuSet{}
	s.add("this process", os.Getpid())
	var pids []int
	for _, a := range c.apps {
		pids = append(pids, a.child.Pid())
	}
	s.add("nodes", pids...)
	return s
}

func (c *storeCluster) close() {
	c.node.Close()
	stopApps(c.apps)
}

// tokens returns storeKeys tokens holding size-byte sessions, owned by this
// node (local) or by another one.
func (c *storeCluster) tokens(local bool, size int) ([]string, error) {
	val := randomBytes(size)
	var toks []string
	for tries := 0; len(toks) < storeKeys; tries++ {
		if tries > 1000*storeKeys {
			return nil, errors.New("could not mint tokens with the wanted owner")
		}
		tok, err := c.node.NewToken(local)
		if err != nil {
			return nil, err
		}
		if owner, _ := c.node.Locate(tok); (owner == c.node.Name()) != local {
			continue
		}
		if err := c.node.Commit(tok, val, time.Now().Add(time.Hour)); err != nil {
			return nil, err
		}
		toks = append(toks, tok)
	}
	return toks, nil
}

func (c *storeCluster) find(toks []string, size int) opMaker {
	return func() func(int) error {
		return func(i int) error {
			v, found, err := c.node.Find(toks[i%len(toks)])
			if err == nil && (!found || len(v) != size) {
				err = fmt.Errorf("find: %d bytes, found %v", len(v), found)
			}
			return err
		}
	}
}

// commit writes a changed value each time: the store skips unchanged ones.
func (c *storeCluster) commit(toks []string, size int) opMaker {
	expiry := time.Now().Add(time.Hour)
	return func() func(int) error {
		val := randomBytes(size)
		return func(i int) error {
			binary.LittleEndian.PutUint64(val, uint64(i))
			return c.node.Commit(toks[i%len(toks)], val, expiry)
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// sessionKeys are storeKeys keys shaped like tokens.
func sessionKeys() []string {
	keys := make([]string, storeKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("sess:%043d", i)
	}
	return keys
}

// blobOps returns get and set operations on a session server holding
// storeKeys sessions of size bytes.
func blobOps(bs blobStore, size int) (get, set opMaker, err error) {
	keys := sessionKeys()
	val := randomBytes(size)
	for _, k := range keys {
		if err := bs.Set(k, val, time.Hour); err != nil {
			return nil, nil, err
		}
	}
	get = func() func(int) error {
		return func(i int) error {
			v, found, err := bs.Get(keys[i%len(keys)])
			if err == nil && (!found || len(v) != size) {
				err = fmt.Errorf("get: %d bytes, found %v", len(v), found)
			}
			return err
		}
	}
	set = func() func(int) error {
		val := randomBytes(size)
		return func(i int) error {
			binary.LittleEndian.PutUint64(val, uint64(i))
			return bs.Set(keys[i%len(keys)], val, time.Hour)
		}
	}
	return get, set, nil
}

func newMemcachedBlobs(addr string, conns int) memcachedBlobs {
	c := memcache.New(addr)
	c.MaxIdleConns = conns
	c.Timeout = 2 * time.Second
	return memcachedBlobs{c}
}
