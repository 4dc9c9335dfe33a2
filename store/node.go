package store

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/peertls"
	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/e5b1d45c/sessring/placement"
)

// Node is one member of a sessring cluster. All methods are safe for
// concurrent use. Any node serves any session: it forwards to the session's
// owner when it is not the owner itself.
type Node struct {
	cfg         Config
	name        string
	incarnation uint64
	opSeq       atomic.Uint64 // write ids (opid.go)
	log         *slog.Logger
	parts       []*partition
	used        atomic.Int64 // bytes held, all partitions
	// clock is Config.Clock: every time compared by a rule reads it (now).
	clock Clock
	stats counters

	// clusterVersion is ClusterVersion, set on membership changes (version.go).
	clusterVersion atomic.Int32

	view    atomic.Pointer[view]
	cluster *gossip.Cluster
	client  *rpc.Client
	server  *rpc.Server
	ln      net.Listener
	locks   *lockTable // the fencing leases Lock grants (locks.go)
	// readLeases are the owner/replica read leases (readlease.go).
	readLeases  *readLeases
	leaseKick   chan struct{}
	reach       reachability
	quorumOK    atomic.Pointer[quorumVerdict]
	hadQuorum   atomic.Bool  // a quorum check passed once (cutOff is meaningful)
	cutOff      atomic.Bool  // lost the majority since the last resync (resync.go)
	resyncMu    sync.Mutex   // serializes the resync marking (resync.go)
	lastQuorate atomic.Int64 // unix nanoseconds of the last passing quorum check
	backup      *backupQueue // nil without a Backup
	// writeVersion is the cluster version new formats may be written at
	// (today: the backup value without its token). Open sets it to
	// ClusterVersion.
	writeVersion func() int

	// viewMu serializes view changes and guards the fields below.
	viewMu      sync.Mutex
	orphanSince []time.Time          // per partition: when it stopped being held here
	lostAt      map[string]time.Time // members gone without a departure notice
	// memberVersions holds the versions of live and lost members as last
	// advertised (version.go).
	memberVersions map[string]version.Range
	departedAt     map[string]time.Time  // members that announced a graceful leave
	goneInc        map[string]goneRecord // members lost, by the process that was lost (resync.go)

	// expireMu guards expireFns.
	expireMu  sync.Mutex
	expireFns []func(token string, r Record)

	pullKick   chan struct{}
	catchUp    atomic.Pointer[catchUp] // the change being caught up on (events.go)
	gossipMu   sync.Mutex              // guards lastGossip
	lastGossip map[string]time.Time    // peer -> last forced gossip exchange

	abandons abandonQueue // lock requests to call off (abandon.go)

	leaving   atomic.Bool
	closing   atomic.Bool // Close was called: not Ready from then on
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	// spawnMu orders spawn against shutdown: no goroutine is added to wg
	// once shutdown has started waiting for it.
	spawnMu sync.Mutex
	wg      sync.WaitGroup
}

// spawn runs f on a goroutine that Close waits for, unless the node is
// closing, when it reports false and f does not run.
func (n *Node) spawn(f func()) bool {
	n.spawnMu.Lock()
	defer n.spawnMu.Unlock()
	if n.closed.Load() {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// Open starts a node: it listens for peer traffic, joins the cluster through
// cfg.Join (or starts a new one) and returns once joined. Sessions this node
// now holds are copied in from their previous holders in the background;
// requests for them are served meanwhile by fetching on demand.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Partitions == 0 {
		cfg.Partitions = placement.DefaultPartitions
	}
	n := &Node{
		cfg:         cfg,
		name:        cfg.Name,
		incarnation: randUint64(),
		clock:       cfg.Clock,
		log:         cfg.Logger.With("node", cfg.Name),
		parts:       make([]*partition, cfg.Partitions),
		orphanSince: make([]time.Time, cfg.Partitions),
		lostAt:      make(map[string]time.Time),
		departedAt:  make(map[string]time.Time),
		goneInc:     make(map[string]goneRecord),
		readLeases:  newReadLeases(),
		reach:       reachability{heard: map[string]time.Time{}, pinging: map[string]bool{}},
		leaseKick:   make(chan struct{}, 1),
		pullKick:    make(chan struct{}, 1),
		abandons:    abandonQueue{kick: make(chan struct{}, 1)},
		lastGossip:  make(map[string]time.Time),
		stop:        make(chan struct{}),
	}
	n.locks = newLockTable(n.now)
	n.clusterVersion.Store(version.V1)
	n.writeVersion = n.ClusterVersion
	alone := len(cfg.Join) == 0
	for i := range n.parts {
		n.parts[i] = newPartition(i)
		// A new cluster starts complete; a joining node starts empty and
		// pulls what it will hold.
		n.parts[i].ready = alone
	}
	if err := n.start(); err != nil {
		n.shutdown()
		return nil, err
	}
	return n, nil
}

// start brings up peer traffic, then gossip, then the background loops. On
// error the caller undoes what was started with shutdown.
func (n *Node) start() error {
	tlsCfg, err := n.peerTLS()
	if err != nil {
		return err
	}
	if err := n.listen(tlsCfg); err != nil {
		return err
	}
	if n.cfg.Backup != nil {
		if err := n.keyBackup(); err != nil {
			return err
		}
		n.backup = newBackupQueue(n)
	}
	gcfg, err := n.gossipConfig()
	if err != nil {
		return err
	}
	cluster, err := gossip.New(gcfg)
	if err != nil {
		return fmt.Errorf("store: join: %w", err)
	}
	n.cluster = cluster
	n.refreshView()
	n.wg.Add(8)
	go n.abandonLoop()
	go n.heartbeatLoop()
	go n.rejoinLoop()
	go n.leaseLoop()
	go n.watchMembership()
	go n.pullLoop()
	go n.sweepLoop()
	go n.antiEntropyLoop()
	if n.backup != nil {
		n.backup.start()
	}
	n.log.Info("sessring node started", "gossip", n.GossipAddr(), "rpc", n.PeerAddr(), "members", len(n.cluster.Members()))
	return nil
}

// peerTLS is the TLS config of peer traffic: Config.TLS or the one derived
// from the keys, agreeing on the ClusterName; nil with Insecure and no key.
func (n *Node) peerTLS() (*tls.Config, error) {
	c := n.cfg.TLS
	if c == nil && len(n.cfg.SecretKey) > 0 {
		var err error
		if c, err = peertls.FromSecret(n.cfg.SecretKey, n.cfg.OldSecretKeys...); err != nil {
			return nil, fmt.Errorf("store: peer tls: %w", err)
		}
	}
	return peertls.WithClusterName(c, n.cfg.ClusterName), nil
}

// clusterKeyed is implemented by a Backup that can derive its keys from the
// cluster key when it was given none (package backup's Memcached); old are
// the earlier keys whose values it still reads.
type clusterKeyed interface {
	UseClusterKey(clusterKey []byte, old ...[]byte) error
}

// keyBackup hands SecretKey to a Backup without a key of its own, so a keyed
// cluster never writes plaintext sessions, and a value planted in memcached
// without the key does not load.
func (n *Node) keyBackup() error {
	kb, ok := n.cfg.Backup.(clusterKeyed)
	if !ok || len(n.cfg.SecretKey) == 0 {
		return nil
	}
	if err := kb.UseClusterKey(n.cfg.SecretKey, n.cfg.OldSecretKeys...); err != nil {
		return fmt.Errorf("store: backup key: %w", err)
	}
	return nil
}

func (n *Node) listen(tlsCfg *tls.Config) error {
	addr := n.cfg.RPCAddr
	if addr == "" {
		host, _, _ := net.SplitHostPort(n.cfg.BindAddr)
		addr = net.JoinHostPort(host, "0")
	}
	var err error
	if n.cfg.Network != nil {
		n.ln, err = n.cfg.Network.Listen(addr)
	} else {
		n.ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("store: listen %s: %w", addr, err)
	}
	rcfg := rpc.DefaultConfig()
	rcfg.TLS = tlsCfg
	rcfg.CallTimeout = n.cfg.CallTimeout
	rcfg.MaxFrame = n.cfg.MaxValueBytes*2 + maxPullBytes
	rcfg.Logger = n.cfg.Logger // gossip adds node= itself
	if n.cfg.Network != nil {
		rcfg.Dial = n.cfg.Network.Dial
	}
	if n.client, err = rpc.NewClient(rcfg); err != nil {
		return fmt.Errorf("store: rpc client: %w", err)
	}
	if n.server, err = rpc.NewServer(rcfg, peerHandler{n}); err != nil {
		return fmt.Errorf("store: rpc server: %w", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.server.Serve(n.ln)
	}()
	return nil
}

func (n *Node) gossipConfig() (gossip.Config, error) {
	g := gossip.DefaultConfig()
	g.Name = n.name
	g.BindAddr = n.cfg.BindAddr
	g.Join = n.cfg.Join
	g.JoinTimeout = n.cfg.JoinTimeout
	g.SecretKey, g.OldSecretKeys = n.cfg.SecretKey, n.cfg.OldSecretKeys
	g.Label = n.cfg.ClusterName
	g.Logger = n.cfg.Logger // gossip adds node= itself
	r := n.versions()
	g.Meta = gossip.Meta{RPCAddr: n.advertisedRPC(), Incarnation: n.incarnation, MinVersion: r.Min, MaxVersion: r.Max}
	if n.cfg.ProbeInterval != 0 {
		g.ProbeInterval = n.cfg.ProbeInterval
	}
	if n.cfg.ProbeTimeout != 0 {
		g.ProbeTimeout = n.cfg.ProbeTimeout
	}
	if n.cfg.GossipInterval != 0 {
		g.GossipInterval = n.cfg.GossipInterval
	}
	if n.cfg.PushPullInterval != 0 {
		g.PushPullInterval = n.cfg.PushPullInterval
	}
	if n.cfg.SuspicionMult != 0 {
		g.SuspicionMult = n.cfg.SuspicionMult
	}
	if n.cfg.AdvertiseAddr != "" {
		g.AdvertiseAddr = n.cfg.AdvertiseAddr
	}
	if n.cfg.Network != nil {
		t, err := n.cfg.Network.GossipTransport(n.cfg.BindAddr)
		if err != nil {
			return g, fmt.Errorf("store: gossip transport: %w", err)
		}
		g.Transport = t
	}
	return g, nil
}

func (n *Node) advertisedRPC() string {
	addr := n.ln.Addr().String()
	if n.cfg.AdvertiseAddr == "" {
		return addr
	}
	_, port, _ := net.SplitHostPort(addr)
	host, _, err := net.SplitHostPort(n.cfg.AdvertiseAddr)
	if err != nil {
		host = n.cfg.AdvertiseAddr
	}
	return net.JoinHostPort(host, port)
}

func randUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// GossipAddr returns the address this node's gossip listens on (host:port,
// the advertised one if it differs): the address other nodes list in
// Config.Join. With BindAddr port 0 it tells which port was picked.
func (n *Node) GossipAddr() string { return n.cluster.Self().Addr }

// PeerAddr returns the address other nodes dial for this node's peer
// traffic (host:port): the listener's address, or with a wildcard listener
// (0.0.0.0, [::]) the advertised IP with the listener's port.
func (n *Node) PeerAddr() string { return n.cluster.Self().Meta.RPCAddr }

// Members returns the names of the live members this node sees.
func (n *Node) Members() []string {
	if v := n.view.Load(); v != nil {
		return v.table.Members()
	}
	return nil
}

// Locate reports the owner and replica of a token under this node's current
// view of the cluster.
func (n *Node) Locate(token string) (owner, replica string) {
	v := n.view.Load()
	if v == nil {
		return "", ""
	}
	return v.table.Holders(v.table.Partition(token))
}

// OnExpire registers fn to be called once for every session that expires,
// on the node that owns it at that moment. fn must not block for long.
func (n *Node) OnExpire(fn func(token string, r Record)) {
	n.expireMu.Lock()
	n.expireFns = append(n.expireFns, fn)
	n.expireMu.Unlock()
}

// Close leaves the cluster gracefully: it hands its sessions to the nodes
// that will hold them, announces its departure, stops serving, and returns
// after every goroutine has exited. Close is idempotent.
func (n *Node) Close() error {
	n.closing.Store(true)
	n.closeOnce.Do(func() {
		if n.cluster != nil {
			n.closeErr = n.leave()
		}
		n.shutdown()
	})
	return n.closeErr
}

// shutdown stops everything without handing over (also used to undo a
// failed Open).
func (n *Node) shutdown() {
	n.spawnMu.Lock()
	n.closed.Store(true)
	n.spawnMu.Unlock()
	close(n.stop)
	var errs []error
	if n.cluster != nil {
		errs = append(errs, n.cluster.Close())
	}
	if n.server != nil {
		errs = append(errs, n.server.Close())
	} else if n.ln != nil {
		n.ln.Close()
	}
	if n.backup != nil {
		n.backup.close()
	}
	if n.client != nil {
		errs = append(errs, n.client.Close())
	}
	n.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		n.log.Debug("shutdown", "err", err)
	}
}

// opContext bounds an operation by OpTimeout unless ctx ends sooner.
func (n *Node) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return withDeadline(ctx, n.opDeadline(ctx, time.Now()))
}

// withDeadline is context.WithDeadline without a second timer when ctx
// already ends at d.
func withDeadline(ctx context.Context, d time.Time) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && !dl.After(d) {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, d)
}

// ctxEnded reports whether ctx is done or its deadline has passed: a peer
// call can see the deadline pass a moment before ctx's own timer fires.
func ctxEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// opDeadline is when an operation starting at start must end: OpTimeout
// later, or at ctx's deadline if that is earlier.
func (n *Node) opDeadline(ctx context.Context, start time.Time) time.Time {
	d := start.Add(n.cfg.OpTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		return dl
	}
	return d
}

// now is the node's current time: Config.Clock, or the system clock for a
// Node built by hand in a test.
func (n *Node) now() time.Time {
	if n.clock == nil {
		return time.Now()
	}
	return n.clock.Now()
}
