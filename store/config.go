package store

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/internal/peertls"
	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/e5b1d45c/sessring/store/internal/clock"
)

// Clock tells a node the time (Config.Clock). Now is called from many
// goroutines at once and must not block.
type Clock interface {
	Now() time.Time
}

// Replication chooses when a write is acknowledged.
type Replication uint8

const (
	// Sync (default): a write returns after owner and replica both hold it.
	// A single crash never loses an acknowledged write.
	Sync Replication = iota
	// Async: a write returns after the owner holds it; the replica is
	// updated in the background. Loss window: an owner crash loses the
	// writes of roughly the last replication round trip (milliseconds on a
	// LAN), and anti-entropy repairs any replica that missed an update.
	Async
)

// MinorityMode is the split-brain policy; see Config.Minority.
type MinorityMode uint8

const (
	// MinorityRefuse makes a node that cannot see a majority refuse to serve.
	MinorityRefuse MinorityMode = iota
	// MinorityServe makes every node serve what it can see.
	MinorityServe
)

// PressurePolicy chooses what a node does when its sessions fill MaxBytes.
type PressurePolicy uint8

const (
	// RefuseWhenFull (default): the bodies of sessions that are safe in the
	// backup are dropped from memory (passivated, loaded back on use); past
	// that, writes that need memory fail with ErrFull. No session is lost.
	RefuseWhenFull PressurePolicy = iota
	// EvictUnprotected keeps logged-in users working under a flood of
	// anonymous sessions: once the node holds more than 90% of MaxBytes, it
	// ends the least recently used sessions it owns that do not carry
	// ProtectField, down to 80%, on every sweep. Ending is a deletion on
	// owner, replica and backup: those sessions are lost, each counted in
	// Stats.Evicted, and every sweep that evicts logs a warning with the
	// count. Passivation still comes first, and protected sessions are
	// never evicted: with only those left, writes fail with ErrFull.
	EvictUnprotected
)

// Config configures a Node. Zero fields take the default shown.
type Config struct {
	// Name is the node's unique name; default: hostname plus a random
	// suffix. Placement is by name, so a restarted process that keeps its
	// name gets its partitions back (and refills them from its peers).
	Name string
	// BindAddr is the gossip address host:port; port 0 picks a free port.
	// Default "127.0.0.1:0".
	BindAddr string
	// RPCAddr is the peer-traffic address; default BindAddr's host with a
	// free port.
	RPCAddr string
	// AdvertiseAddr, when set, is the IP peers use to reach this node (for
	// NAT or containers), for gossip and peer traffic alike; the ports stay
	// those bound. Unset, a node bound to a wildcard (0.0.0.0, [::] or
	// ":port") advertises the one address of this host that other hosts can
	// reach (the default route's interface first, private addresses first;
	// [::] prefers IPv6), and Open fails naming AdvertiseAddr when there is
	// no single such address. GossipAddr and PeerAddr report what is
	// advertised.
	AdvertiseAddr string
	// Join lists seed gossip addresses; empty starts a new cluster.
	Join []string
	// JoinTimeout bounds how long Open retries the seeds. Default 30s.
	JoinTimeout time.Duration

	// SecretKey (16, 24 or 32 random bytes) encrypts and authenticates
	// gossip (memberlist keyring) and peer traffic (mutual TLS with a key
	// derived from it). Open refuses to start without SecretKey or TLS
	// unless Insecure is set, on loopback too: any local process (every
	// container of a Kubernetes pod shares loopback) could otherwise read
	// every session with one hand-built request. A key of only zero bytes
	// is refused. When the Backup has no key of its own, the backup key is
	// derived from this one (see package backup), so a keyed cluster never
	// writes plaintext sessions to memcached.
	SecretKey []byte
	// OldSecretKeys are earlier keys still accepted from peers (gossip and
	// peer TLS), never used to send: rotate SecretKey without downtime in
	// three rolling restarts, as with memberlist's keyring. 1: add the new
	// key here on every node; 2: make it SecretKey on every node, moving the
	// old one here; 3: drop the old one. A Backup keyed from SecretKey
	// (package backup) reads values written under these keys too and
	// removes them when a session is written again; keep a key here for
	// the longest session lifetime after step 2, or sessions only in the
	// cold tier and not used since cannot be restored.
	OldSecretKeys [][]byte
	// ClusterName, when set, separates this cluster from others that share
	// its key: it is memberlist's Label on all gossip, and peer TLS agrees
	// on it (ALPN "sessring/<name>") before any request, so nodes of
	// differently named clusters refuse each other. Every node of a cluster
	// must use the same name; changing it means restarting the whole
	// cluster. At most 64 printable ASCII bytes. Default: none.
	ClusterName string
	// TLS, when set, is used for peer traffic instead of the SecretKey's
	// derived certificate (your own PKI). Validate refuses a config that
	// does not authenticate both ends: as a server it must require and
	// verify client certificates (ClientAuth RequireAndVerifyClientCert
	// with ClientCAs, or RequireAnyClientCert with a VerifyPeerCertificate
	// or VerifyConnection callback), and as a client it must verify the
	// server (InsecureSkipVerify only with such a callback). Gossip still
	// needs SecretKey off loopback.
	TLS *tls.Config
	// Insecure allows running without SecretKey and TLS (plaintext,
	// unauthenticated peer traffic and gossip), and non-loopback addresses
	// without SecretKey. Default false.
	Insecure bool

	// Partitions is the number of placement partitions; every node of a
	// cluster must use the same value. Default placement.DefaultPartitions.
	Partitions int
	// Replication is Sync (default) or Async.
	Replication Replication
	// MaxBytes bounds the memory held by this node's sessions (owner and
	// replica copies). Past it, writes fail with ErrFull unless sessions that
	// are safe in the backup tier can be passivated. Default 1 GiB.
	MaxBytes int64
	// MaxValueBytes bounds one session. Default 1 MiB.
	MaxValueBytes int
	// Pressure is what a node does when its sessions fill MaxBytes; see
	// PressurePolicy. Default RefuseWhenFull.
	Pressure PressurePolicy
	// ProtectField names the field that marks a session EvictUnprotected
	// never ends: with package middleware, middleware.UserField (a session
	// tied to a logged-in user). Sessions of kind bytes carry no fields and
	// are never protected.
	ProtectField string

	// OpTimeout bounds one Find, Commit or Delete including retries while
	// membership settles after a failure. Used when the ctx has no earlier
	// deadline. Default DefaultOpTimeout (6s), which waits out a failover.
	OpTimeout time.Duration
	// CallTimeout bounds the peer requests the node makes on its own
	// (asynchronous replication, pull and anti-entropy rounds use small
	// multiples of it) and any request whose context has no deadline. A
	// request made for a Find, Commit or Delete is bounded by the
	// operation's deadline (OpTimeout) instead. Default 1s.
	CallTimeout time.Duration
	// AntiEntropyInterval is how often owners compare partition digests with
	// their replicas. Default 10s.
	AntiEntropyInterval time.Duration
	// SweepInterval is how often owners expire sessions. Default 1s.
	SweepInterval time.Duration
	// TombstoneTTL is how long at least a deleted session's version is
	// remembered so a stale copy cannot bring it back. A deletion is also
	// remembered until the deleted session's own deadline would have
	// passed (30 days for a session without one), so a replayed backup
	// value cannot restore a logged-out session while the cluster runs: a
	// tombstone costs about 200 bytes for that long. Default 10m.
	TombstoneTTL time.Duration
	// OrphanGrace is how long data for partitions this node no longer holds
	// is kept (a source for peers still pulling it). Default 30s.
	OrphanGrace time.Duration
	// HandoverTimeout bounds the hand-over of sessions in Close. Default 10s.
	HandoverTimeout time.Duration

	// Minority chooses what a node does when it sees fewer than a majority
	// of the members it knows (alive plus those lost within LostMemberTTL):
	// MinorityRefuse (default) stops serving as owner, so the two sides of a
	// network partition cannot both accept writes; MinorityServe keeps
	// serving (available, but the sides diverge and the higher version wins
	// when they merge). Under MinorityRefuse a node back from a cut-off or
	// a pause forgets the locks (Lock) it granted before; under
	// MinorityServe it keeps them, so a lock whose holder unlocked at the
	// other side blocks the session until its ttl.
	Minority MinorityMode
	// LostMemberTTL is how long a member that disappeared without leaving
	// gracefully still counts as a member (for the majority rule and as the
	// holder of data nobody else has). After it, the survivors carry on
	// without it. Default 30s.
	LostMemberTTL time.Duration

	// Gossip tuning; zero uses gossip's defaults.
	ProbeInterval, ProbeTimeout, GossipInterval, PushPullInterval time.Duration
	SuspicionMult                                                 int

	// Backup is the optional cold tier (see package backup).
	Backup Backup
	// BackupMode is WriteBehind (default) or WriteThrough.
	BackupMode BackupMode
	// BackupDelay is the write-behind coalescing delay. Default 1s.
	BackupDelay time.Duration
	// BackupQueue bounds the write-behind backlog in sessions. Default 100000.
	BackupQueue int

	// Network replaces real TCP/UDP (tests: internal/memnet).
	Network Network
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
	// Observer receives operation latencies and membership events (see
	// package metrics). Default none.
	Observer Observer
	// Clock is where the node reads the current time for every rule that
	// compares times: session and tombstone expiry, lock and read leases,
	// the reachability quorum, write-id memory. Default the system clock.
	// Tests pass a manual clock (store/internal/clock) to move time without
	// sleeping; timers pacing background loops and network deadlines still
	// run on real time.
	Clock Clock

	// versions replaces the protocol versions the node advertises, which
	// are this build's (version.Supported) when zero: tests use it to run a
	// node of another release in-process.
	versions version.Range
	// leasePageBytes bounds one page of a lease hand-back (serveLease);
	// zero means maxPullBytes. Tests lower it to page small clusters.
	leasePageBytes int
}

// DefaultOpTimeout is how long an operation waits by default: Config.OpTimeout
// here, and the default store and lock timeouts of package middleware and
// its adapters (gorillastore), so that no layer gives up before another.
// It waits out a failover: with the default gossip timing a crashed node is
// declared dead after about 3s and its read lease ends 1s later, when its
// sessions are served by their replicas; the rest is margin for a loaded
// machine. A request that arrives just after a crash waits, it does not
// fail.
const DefaultOpTimeout = 6 * time.Second

// DefaultConfig returns a fresh Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		BindAddr:            "127.0.0.1:0",
		JoinTimeout:         30 * time.Second,
		MaxBytes:            1 << 30,
		MaxValueBytes:       1 << 20,
		OpTimeout:           DefaultOpTimeout,
		CallTimeout:         time.Second,
		AntiEntropyInterval: 10 * time.Second,
		SweepInterval:       time.Second,
		TombstoneTTL:        10 * time.Minute,
		OrphanGrace:         30 * time.Second,
		HandoverTimeout:     10 * time.Second,
		LostMemberTTL:       30 * time.Second,
		BackupDelay:         time.Second,
		BackupQueue:         100000,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = defaultName()
	}
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	setDur(&c.JoinTimeout, d.JoinTimeout)
	setDur(&c.OpTimeout, d.OpTimeout)
	setDur(&c.CallTimeout, d.CallTimeout)
	setDur(&c.AntiEntropyInterval, d.AntiEntropyInterval)
	setDur(&c.SweepInterval, d.SweepInterval)
	setDur(&c.TombstoneTTL, d.TombstoneTTL)
	setDur(&c.OrphanGrace, d.OrphanGrace)
	setDur(&c.HandoverTimeout, d.HandoverTimeout)
	setDur(&c.LostMemberTTL, d.LostMemberTTL)
	setDur(&c.BackupDelay, d.BackupDelay)
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = d.MaxValueBytes
	}
	if c.BackupQueue == 0 {
		c.BackupQueue = d.BackupQueue
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return c
}

func setDur(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

func defaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Validate reports the first problem with the config, wrapping ErrBadConfig.
// Zero fields are valid (they take defaults).
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, a...))
	}
	if err := c.validateKeys(); err != nil {
		return bad("%v", err)
	}
	for _, a := range []struct{ name, v string }{{"BindAddr", c.BindAddr}, {"RPCAddr", c.RPCAddr}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return bad("%s %q: %v", a.name, a.v, err)
		}
	}
	if c.Partitions < 0 || c.Partitions > 1<<16 {
		return bad("Partitions must be between 1 and 65536, got %d", c.Partitions)
	}
	if c.MaxBytes < 0 || c.MaxValueBytes < 0 || c.BackupQueue < 0 {
		return bad("MaxBytes, MaxValueBytes and BackupQueue must not be negative")
	}
	if c.Clock != nil && c.Clock.Now().IsZero() {
		return bad("Clock reads the zero time")
	}
	if c.Replication > Async || c.BackupMode > WriteThrough || c.Minority > MinorityServe || c.Pressure > EvictUnprotected {
		return bad("unknown Replication, BackupMode, Minority or Pressure")
	}
	if c.Pressure == EvictUnprotected && c.ProtectField == "" {
		return bad("Pressure EvictUnprotected needs ProtectField (middleware.UserField with package middleware), or every session may be evicted")
	}
	if c.SuspicionMult == 1 {
		return bad("SuspicionMult must be at least 2: the majority rule relies on a death verdict taking longer than one probe interval")
	}
	if c.BackupMode == WriteThrough && c.Backup == nil {
		return bad("BackupMode WriteThrough needs a Backup")
	}
	if len(c.SecretKey) == 0 && !c.Insecure {
		if c.TLS == nil {
			return bad("no SecretKey: set one (16, 24 or 32 random bytes), or TLS, or Insecure to accept an unauthenticated cluster (loopback included: other local processes could read every session)")
		}
		for _, a := range []string{c.BindAddr, c.RPCAddr, c.AdvertiseAddr} {
			if a != "" && !isLoopback(a) {
				return bad("address %q is not loopback: set SecretKey, gossip is unauthenticated without it (or Insecure to accept that)", a)
			}
		}
	}
	return nil
}

// validateKeys checks SecretKey, OldSecretKeys, ClusterName and TLS.
func (c Config) validateKeys() error {
	keys := append([][]byte{c.SecretKey}, c.OldSecretKeys...)
	for i, k := range keys {
		name := "SecretKey"
		if i > 0 {
			name = fmt.Sprintf("OldSecretKeys[%d]", i-1)
		}
		if i == 0 && len(k) == 0 {
			continue
		}
		if err := peertls.CheckSecret(k); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(c.OldSecretKeys) > 0 && len(c.SecretKey) == 0 {
		return errors.New("OldSecretKeys need a SecretKey")
	}
	if len(c.ClusterName) > maxClusterName || strings.IndexFunc(c.ClusterName, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return fmt.Errorf("ClusterName %q: want at most %d printable ASCII bytes without spaces", c.ClusterName, maxClusterName)
	}
	return checkPeerTLS(c.TLS)
}

// maxClusterName bounds ClusterName (it rides in every gossip packet).
const maxClusterName = 64

// checkPeerTLS refuses a custom TLS config that lets an anonymous client in
// (no client certificate required, or one not verified) or makes the
// client side trust any server.
func checkPeerTLS(t *tls.Config) error {
	if t == nil {
		return nil
	}
	callback := t.VerifyPeerCertificate != nil || t.VerifyConnection != nil
	switch t.ClientAuth {
	case tls.RequireAndVerifyClientCert:
		if t.ClientCAs == nil && !callback {
			return errors.New("TLS: ClientAuth RequireAndVerifyClientCert needs ClientCAs (without them any publicly trusted certificate is accepted)")
		}
	case tls.RequireAnyClientCert:
		if !callback {
			return errors.New("TLS: ClientAuth RequireAnyClientCert accepts any certificate without a VerifyPeerCertificate or VerifyConnection callback")
		}
	default:
		return fmt.Errorf("TLS: ClientAuth is %v: peers must be authenticated, use RequireAndVerifyClientCert", t.ClientAuth)
	}
	if t.InsecureSkipVerify && !callback {
		return errors.New("TLS: InsecureSkipVerify without a VerifyPeerCertificate or VerifyConnection callback trusts any server")
	}
	return nil
}

// isLoopback reports whether host:port (or a bare host) names a loopback
// address. An empty host means all interfaces, which is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
