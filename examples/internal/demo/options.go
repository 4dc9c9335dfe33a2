package demo

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/e5b1d45c/sessring/middleware"
)

// Options configures one demo node.
type Options struct {
	// Name is the node's cluster name. Default "<hostname>-<gossip port>",
	// which a restart on the same port keeps, so the node gets its
	// partitions back.
	Name string
	// HTTPAddr is where the app listens. Port 0 picks a free port.
	HTTPAddr string
	// BindAddr is the gossip address. Port 0 picks a port free for both
	// TCP and UDP before the node starts, so it can be printed for others
	// to join.
	BindAddr string
	// Advertise, when set, is the IP other nodes reach this one at
	// (store.Config.AdvertiseAddr): in Kubernetes, the pod IP. Default: with
	// a wildcard BindAddr, the address of the default route's interface.
	Advertise string
	// Join lists seed gossip addresses ("host:port", the host an IP or a
	// DNS name that may resolve to several nodes); empty starts a new
	// cluster.
	Join []string
	// Memcached lists optional cold-tier servers (backup.Config.Servers).
	Memcached []string
	// Key is the cluster key (16, 24 or 32 bytes): encrypted gossip,
	// mutual TLS between nodes, encrypted memcached values. Required unless
	// Insecure: without it any local process could read every session.
	Key []byte
	// Insecure runs without a key: plaintext, unauthenticated peer traffic.
	Insecure bool
	// Sticky mints session tokens owned by the node that creates them, for
	// a load balancer that pins clients to nodes.
	Sticky bool
	// Locking chooses which requests hold the session's cluster-wide lock
	// (middleware.Config.Locking). The zero value is middleware.LockNone;
	// the -locking flag defaults to auto.
	Locking middleware.LockMode
	// Controls, when set, names every node of an examples/cluster demo: the
	// page then shows buttons to crash the serving node and start stopped
	// ones, which that command's load balancer carries out.
	Controls []string

	keyEnvErr error // a malformed $SESSRING_KEY, reported by Validate

	// Out receives the node's state lines (see StateLine). Default os.Stdout.
	Out io.Writer
	// Logger receives the node's logs. Default: text on os.Stderr.
	Logger *slog.Logger
}

// RegisterFlags defines the node's command-line flags on fs, writing into o.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Name, "name", "", "node name, unique in the cluster (default <hostname>-<gossip port>)")
	fs.StringVar(&o.HTTPAddr, "http", "127.0.0.1:8081", "HTTP address of the app (port 0: any free port)")
	fs.StringVar(&o.BindAddr, "bind", "127.0.0.1:7946", "gossip address (port 0: any free port)")
	fs.StringVar(&o.Advertise, "advertise", "", "IP other nodes reach this one at (default: with a wildcard -bind, the default route's address)")
	fs.Var((*listFlag)(&o.Join), "join", "comma-separated gossip addresses of nodes to join (empty: start a new cluster)")
	fs.Var((*listFlag)(&o.Memcached), "memcached", "comma-separated memcached servers host:port for the optional cold tier")
	if v := os.Getenv(KeyEnv); v != "" {
		o.keyEnvErr = (*keyFlag)(&o.Key).Set(v)
	}
	fs.Var((*keyFlag)(&o.Key), "key", "cluster key in hex, 16, 24 or 32 bytes; default $"+KeyEnv+", which, unlike a flag, other users cannot read in the process list")
	fs.BoolVar(&o.Insecure, "insecure", false, "run without a key: unauthenticated, plaintext peer traffic that any local process can use")
	fs.BoolVar(&o.Sticky, "sticky", false, "mint session tokens owned by this node (for a sticky load balancer)")
	o.Locking = middleware.LockAuto
	fs.Var((*lockFlag)(&o.Locking), "locking", "which requests lock their session: auto (writes, and reads not yet seen read-only), exclusive (all) or none")
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	for _, a := range []struct{ flag, v string }{{"-http", o.HTTPAddr}, {"-bind", o.BindAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return fmt.Errorf("%s %q: want host:port", a.flag, a.v)
		}
	}
	if o.Advertise != "" && net.ParseIP(o.Advertise) == nil {
		return fmt.Errorf("-advertise %q: want an IP address", o.Advertise)
	}
	if o.keyEnvErr != nil {
		return fmt.Errorf("$%s: %w", KeyEnv, o.keyEnvErr)
	}
	switch len(o.Key) {
	case 16, 24, 32:
	case 0:
		if !o.Insecure {
			return fmt.Errorf("a cluster key is required: -key or $%s, hex of 32 random bytes (openssl rand -hex 32), the same on every node; or -insecure", KeyEnv)
		}
	default:
		return fmt.Errorf("-key: %d bytes, want 16, 24 or 32", len(o.Key))
	}
	return nil
}

// KeyEnv is the environment variable a node reads its cluster key from when
// -key is not given.
const KeyEnv = "SESSRING_KEY"

func (o *Options) withDefaults() {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// listFlag is a comma-separated list; empty items are dropped.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = nil
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// lockFlag is a middleware.LockMode by name.
type lockFlag middleware.LockMode

var lockNames = []struct {
	name string
	mode middleware.LockMode
}{{"auto", middleware.LockAuto}, {"exclusive", middleware.LockExclusive}, {"none", middleware.LockNone}}

func (l *lockFlag) String() string {
	for _, n := range lockNames {
		if n.mode == middleware.LockMode(*l) {
			return n.name
		}
	}
	return fmt.Sprint(uint8(*l))
}

func (l *lockFlag) Set(s string) error {
	for _, n := range lockNames {
		if n.name == strings.TrimSpace(s) {
			*l = lockFlag(n.mode)
			return nil
		}
	}
	return errors.New("want auto, exclusive or none")
}

// keyFlag is a hex-encoded key.
type keyFlag []byte

func (k *keyFlag) String() string { return "" } // never print a key

func (k *keyFlag) Set(s string) error {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not hex")
	}
	*k = b
	return nil
}
