package backup

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by DefaultConfig and by New for zero fields.
const (
	DefaultKeyPrefix     = "sessring:"
	DefaultTimeout       = time.Second
	DefaultCompressAbove = 1024
	DefaultMaxItemSize   = 1<<20 - 512 // memcached's default -I 1m, less its per-item overhead
	DefaultMaxValueSize  = 8 << 20
	DefaultDownFor       = 5 * time.Second
	DefaultMaxIdleConns  = 16
)

const (
	// maxPrefixLen leaves room for the 43-byte hash in memcached's 250-byte
	// key limit.
	maxPrefixLen = 200
	// minItemSize keeps room for the header and the encryption overhead.
	minItemSize = 1024
)

// Config configures a Memcached backup. Zero fields mean "use the default";
// names in parentheses are the memcached-session-manager equivalents.
type Config struct {
	// Servers are the memcached nodes as "id:host:port" or "host:port"
	// (memcachedNodes). The id, which defaults to host:port, decides key
	// placement, so renaming a host without changing its id keeps its keys.
	// Required.
	Servers []string

	// Failover nodes are used only while every server in Servers is marked
	// down (failoverNodes). Optional.
	Failover []string

	// KeyPrefix starts every memcached key (storageKeyPrefix), so several
	// applications can share one memcached. Default "sessring:".
	KeyPrefix string

	// Timeout bounds each request to a server: dialing, then writing it and
	// reading the reply (operationTimeout). A call takes at most about twice
	// Timeout even when it has to try several servers. Default 1s.
	Timeout time.Duration

	// SecretKey, when set (16, 24 or 32 bytes; normally the cluster key),
	// encrypts and authenticates values with AES-256-GCM and hides tokens
	// behind an HMAC in memcached keys. Without it values are stored in
	// plain form and keys are SHA-256 hashes of the tokens.
	SecretKey []byte

	// OldSecretKeys are earlier SecretKeys, for rotating the key without
	// losing the cold tier: a token not found under SecretKey is looked up
	// under each of these in turn, and every Put or Delete of a token also
	// removes its copies under them, so at most one copy of a session
	// outlives a write whichever key a node writes with. A session read
	// under an old key moves to SecretKey on its next write (a touch
	// included); keep a key here for the longest session lifetime after
	// the last node stopped writing with it, or sessions not used since
	// cannot be restored. Each must be 16, 24 or 32 bytes; they need a
	// SecretKey. SecretKey itself or a repeated key listed here is ignored.
	OldSecretKeys [][]byte

	// CompressAbove is the size in bytes above which values are compressed
	// with S2; a negative value disables compression. Default 1024: smaller
	// values rarely shrink enough to pay for the CPU.
	CompressAbove int

	// MaxItemSize is the largest encoded value written; larger ones fail
	// with ErrTooLarge. Default 1 MiB less 512 bytes: memcached's default
	// item limit (-I 1m) also counts the item header, key and CAS against
	// the size: about 300 bytes with the longest KeyPrefix. Raise it
	// only together with memcached's -I, keeping the margin.
	MaxItemSize int

	// MaxValueSize is the largest value Put accepts and Get decodes before
	// compression; it also caps decompression so a forged value cannot
	// make Get allocate without bound. Default 8 MiB.
	MaxValueSize int

	// DownFor is how long a server is skipped after a network failure
	// before it is tried again. Default 5s.
	DownFor time.Duration

	// MaxIdleConns is the number of idle connections kept per server. Set it
	// near the peak number of concurrent calls. Default 16.
	MaxIdleConns int

	// Logger receives server down/up transitions. Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in. Servers must
// still be set.
func DefaultConfig() Config {
	return Config{
		KeyPrefix:     DefaultKeyPrefix,
		Timeout:       DefaultTimeout,
		CompressAbove: DefaultCompressAbove,
		MaxItemSize:   DefaultMaxItemSize,
		MaxValueSize:  DefaultMaxValueSize,
		DownFor:       DefaultDownFor,
		MaxIdleConns:  DefaultMaxIdleConns,
	}
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.KeyPrefix == "" {
		c.KeyPrefix = d.KeyPrefix
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.CompressAbove == 0 {
		c.CompressAbove = d.CompressAbove
	}
	if c.MaxItemSize == 0 {
		c.MaxItemSize = d.MaxItemSize
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = d.MaxValueSize
	}
	if c.DownFor == 0 {
		c.DownFor = d.DownFor
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = d.MaxIdleConns
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first invalid field. Every error wraps ErrBadConfig.
func (c Config) Validate() error {
	if len(c.Servers) == 0 {
		return badConfig("Servers is empty; give at least one \"host:port\"")
	}
	if _, err := parseNodes(c.Servers, c.Failover); err != nil {
		return err
	}
	if len(c.KeyPrefix) > maxPrefixLen || !legalKeyPart(c.KeyPrefix) {
		return badConfig("KeyPrefix %q must be at most %d bytes without spaces or control characters", c.KeyPrefix, maxPrefixLen)
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return badConfig("SecretKey is %d bytes, want 16, 24 or 32", len(c.SecretKey))
	}
	if len(c.OldSecretKeys) > 0 && len(c.SecretKey) == 0 {
		return badConfig("OldSecretKeys need a SecretKey")
	}
	for i, k := range c.OldSecretKeys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return badConfig("OldSecretKeys[%d] is %d bytes, want 16, 24 or 32", i, len(k))
		}
	}
	return c.validateLimits()
}

func (c Config) validateLimits() error {
	switch {
	case c.Timeout < 0:
		return badConfig("Timeout %v is negative", c.Timeout)
	case c.DownFor < 0:
		return badConfig("DownFor %v is negative", c.DownFor)
	case c.MaxIdleConns < 0:
		return badConfig("MaxIdleConns %d is negative", c.MaxIdleConns)
	case c.MaxItemSize != 0 && c.MaxItemSize < minItemSize:
		return badConfig("MaxItemSize %d is below the minimum %d", c.MaxItemSize, minItemSize)
	case c.MaxValueSize < 0 || c.MaxValueSize > maxRawLen:
		return badConfig("MaxValueSize %d is outside 0..%d", c.MaxValueSize, maxRawLen)
	}
	return nil
}

func badConfig(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
}

// parseNodes parses Servers and Failover and checks that ids and addresses
// are unique across both lists.
func parseNodes(servers, failover []string) ([]node, error) {
	nodes := make([]node, 0, len(servers)+len(failover))
	ids := make(map[string]bool)
	addrs := make(map[string]bool)
	for i, list := range [][]string{servers, failover} {
		for _, s := range list {
			n, err := parseNode(s)
			if err != nil {
				return nil, err
			}
			if ids[n.id] || addrs[n.addr] {
				return nil, badConfig("server %q repeats an id or address", s)
			}
			ids[n.id], addrs[n.addr] = true, true
			n.failover = i == 1
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// parseNode accepts "id:host:port" and "host:port" (host may be a bracketed
// IPv6 literal).
func parseNode(s string) (node, error) {
	id, addr := "", s
	if first, rest, ok := strings.Cut(s, ":"); ok && !strings.HasPrefix(s, "[") {
		if _, _, err := net.SplitHostPort(rest); err == nil {
			id, addr = first, rest
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return node{}, badConfig("server %q: want \"id:host:port\" or \"host:port\"", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return node{}, badConfig("server %q: bad port %q", s, port)
	}
	if id == "" {
		id = addr
	}
	return node{id: id, addr: addr}, nil
}

// legalKeyPart reports whether s may appear in a memcached text-protocol key.
func legalKeyPart(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
