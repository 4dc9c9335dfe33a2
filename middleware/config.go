package middleware

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// SecureMode chooses when the session cookie carries the Secure attribute.
type SecureMode uint8

const (
	// SecureAuto (the default) marks the cookie Secure unless the request
	// reached this server directly over plain HTTP for a loopback host
	// (localhost, *.localhost, 127.0.0.0/8, ::1): plain-HTTP development on
	// localhost keeps working, and everything else gets Secure cookies,
	// also behind a TLS-terminating proxy that forwards to a loopback
	// address (a request carrying Forwarded or X-Forwarded-* headers came
	// through a proxy, so it is not local development). With
	// CookieConfig.TrustForwardedProto, X-Forwarded-Proto decides instead
	// when present: Secure for "https", not for "http".
	SecureAuto SecureMode = iota
	// SecureAlways always sets Secure. Browsers then drop the cookie on plain
	// HTTP, so sessions silently do not stick in HTTP-only development.
	SecureAlways
	// SecureNever never sets Secure. Only for closed networks, or for plain
	// HTTP on a non-loopback address (say, testing from a phone on the LAN).
	SecureNever
)

// LockMode chooses which requests hold the session's cluster-wide lock.
type LockMode uint8

const (
	// LockNone (the default) never locks. Concurrent requests of one session
	// merge per field at the session's owner: changes to different keys all
	// survive, and for the same key the last write wins.
	LockNone LockMode = iota
	// LockExclusive serializes all requests of a session, cluster-wide, with a
	// store lease held from before the load until the handler returned.
	LockExclusive
	// LockAuto always locks unsafe methods (POST, PUT, PATCH, DELETE, ...),
	// and locks a GET, HEAD, OPTIONS or TRACE request unless its route was
	// seen read-only, with a successful answer, for the last
	// Config.LockAutoAfter requests within the last five minutes (see
	// "Concurrent requests and locking" in the package doc).
	LockAuto
)

// CookieConfig configures the session cookie. Fields left unset (zero, or
// nil for the two switches) take their defaults, each on its own: setting
// Name alone keeps HttpOnly, Persist, Path, SameSite and Secure as they
// were.
type CookieConfig struct {
	// Name of the cookie. Default "sessring". A "__Host-" or "__Secure-"
	// prefix requires Secure: SecureAlways (and for __Host-, Path "/" and no
	// Domain), because browsers reject such cookies otherwise.
	Name string
	// Domain attribute; default empty (host-only cookie).
	Domain string
	// Path attribute; default "/".
	Path string
	// Secure policy; default SecureAuto (Secure except for plain HTTP to
	// localhost).
	Secure SecureMode
	// TrustForwardedProto lets SecureAuto believe X-Forwarded-Proto. Only set
	// it behind a proxy that overwrites that header. Default false.
	TrustForwardedProto bool
	// HttpOnly hides the cookie from page scripts. Default (nil) true; turn
	// it off with new(false).
	HttpOnly *bool
	// SameSite attribute; zero means Lax. SameSiteNoneMode requires
	// SecureAlways.
	SameSite http.SameSite
	// Partitioned sets the CHIPS Partitioned attribute. Default false.
	Partitioned bool
	// Persist gives the cookie Expires and Max-Age equal to the session's
	// server-side deadline, so it survives a browser restart; new(false)
	// sends a browser-session cookie. Session.RememberMe overrides it per
	// session. Default (nil) true.
	Persist *bool
}

// Config configures a Manager. Zero fields mean "use the default". Each
// comment gives the default.
type Config struct {
	Cookie CookieConfig

	// IdleTimeout expires a session this long after its last write or touch,
	// server-side. Default 30 minutes (Tomcat's session-timeout): a session
	// abandoned by a visitor frees its memory within half an hour instead of
	// holding it for the whole Lifetime, so filling MaxBytes takes a flood
	// of sustained traffic rather than a burst. (Before, there was no idle
	// expiry by default.) A negative value turns idle expiry off. It is
	// independent of the cookie lifetime: the cookie only mirrors the
	// resulting deadline.
	IdleTimeout time.Duration
	// Lifetime is the absolute server-side lifetime from creation (or from
	// RenewToken). Default 24h.
	Lifetime time.Duration
	// TouchInterval is the minimum time between idle refreshes of an
	// unchanged session, so read-only requests do not write the store on
	// every request. Default IdleTimeout/10, at most one minute. A session can
	// thus expire up to TouchInterval before IdleTimeout after the last
	// request. Must be below IdleTimeout.
	TouchInterval time.Duration

	// Locking chooses which requests lock their session. Default LockNone.
	Locking LockMode
	// LockPattern, when set, restricts locking to requests whose URL path
	// matches (with LockExclusive or LockAuto). Default nil: all paths.
	LockPattern *regexp.Regexp
	// LockAutoAfter is how many consecutive successful read-only requests
	// make LockAuto trust a safe-method route to be read-only, for five
	// minutes. Default 10.
	LockAutoAfter int
	// LockWait bounds the wait for a held lock. On timeout the request fails
	// through ErrorFunc with ErrLockTimeout (503 by default) and the handler
	// is not called; it never proceeds unlocked. Default
	// store.DefaultOpTimeout (6s): a lock asked of a session's owner that
	// just crashed is granted by the new owner after the failover.
	LockWait time.Duration
	// LockTTL is the lease duration: a crashed holder's lock frees itself
	// after it. It must exceed the slowest handler. Default 30s.
	LockTTL time.Duration

	// StoreTimeout bounds each store call. Writes are detached from the
	// client's cancellation, so a client that hangs up does not lose the
	// update. Default store.DefaultOpTimeout (6s): longer than the store's
	// failure detection plus read-lease expiry (about 4s with default gossip
	// timing), so a request that arrives just after a node crashed waits for
	// the failover instead of failing.
	StoreTimeout time.Duration
	// Sticky mints new tokens owned by this node (store.NewToken(true)), for
	// sticky load balancing with zero network hops. Default false.
	Sticky bool
	// IgnorePattern skips sessions entirely for matching URL paths (static
	// files): no load, no save, no cookie. Default nil.
	IgnorePattern *regexp.Regexp
	// TokenHeader, when set, also accepts the token from this request header
	// (it wins over the cookie) and returns new tokens in it, for API
	// clients; a response carrying one is sent with "Cache-Control: private,
	// no-store". Default "": cookie only.
	TokenHeader string

	// Codec encodes each session value separately. Default DefaultCodec.
	Codec Codec
	// CompressAbove compresses encoded values longer than this many bytes
	// with S2. Default 1024; negative disables compression.
	CompressAbove int
	// MaxSessionBytes caps a session's stored size (keys plus encoded values)
	// and each value's uncompressed encoding. A request that would exceed it
	// fails with ErrSessionTooLarge and stores nothing. Default 256 KiB.
	MaxSessionBytes int
	// MaxSessionsPerUser caps the live sessions tied to one user
	// (SetUser): past it, the oldest are ended (as by DestroyUser), in the
	// background, so an account that logs in over and over keeps a bounded
	// index and its logins never fail. Default 100; a negative value
	// removes the cap (dead entries are still pruned).
	MaxSessionsPerUser int

	// ErrorFunc answers requests that fail in the middleware. Default: log,
	// then 503 with Retry-After for store unavailability and lock timeouts,
	// 500 otherwise, as plain text.
	ErrorFunc func(http.ResponseWriter, *http.Request, error)
	// Logger receives warnings and errors. Default slog.Default().
	Logger *slog.Logger
	// Observer receives the time each store load and write took, for
	// latency histograms (see package metrics). Default none.
	Observer Observer

	// OnCreate runs after a new session is first stored.
	OnCreate func(token string)
	// OnDestroy runs after Session.Destroy deleted a stored session.
	OnDestroy func(token string)
	// OnRenew runs after RenewToken moved a session to a new token.
	OnRenew func(oldToken, newToken string)
	// OnExpire runs once per expired session, on the node that owned it. It
	// needs a store implementing ExpiryNotifier.
	OnExpire func(token string)
}

// Defaults not expressed by DefaultConfig's literal values.
const (
	defaultIdleTimeout = 30 * time.Minute
	defaultTouchCap    = time.Minute
	maxTokenCookies    = 3 // candidates tried when several cookies carry our name
	defaultSizeLimit   = 256 << 10
)

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Cookie: CookieConfig{
			Name:     "sessring",
			Path:     "/",
			Secure:   SecureAuto,
			HttpOnly: new(true),
			SameSite: http.SameSiteLaxMode,
			Persist:  new(true),
		},
		IdleTimeout:        defaultIdleTimeout,
		Lifetime:           24 * time.Hour,
		LockAutoAfter:      10,
		LockWait:           store.DefaultOpTimeout,
		LockTTL:            30 * time.Second,
		StoreTimeout:       store.DefaultOpTimeout,
		Codec:              DefaultCodec{},
		CompressAbove:      1024,
		MaxSessionBytes:    defaultSizeLimit,
		MaxSessionsPerUser: 100,
	}
}

// Validate reports the first invalid setting, wrapping ErrBadConfig.
func (c Config) Validate() error {
	for _, check := range []func() error{c.validateDurations, c.validateLocking, c.validateCookie, c.validateSizes} {
		if err := check(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	return nil
}

func (c Config) validateDurations() error {
	named := []struct {
		name string
		d    time.Duration
	}{
		{"Lifetime", c.Lifetime}, {"TouchInterval", c.TouchInterval},
		{"LockWait", c.LockWait}, {"LockTTL", c.LockTTL}, {"StoreTimeout", c.StoreTimeout},
	}
	for _, n := range named {
		if n.d < 0 {
			return fmt.Errorf("%s is negative (%v)", n.name, n.d)
		}
	}
	if c.TouchInterval > 0 && c.IdleTimeout < 0 {
		return fmt.Errorf("TouchInterval %v set with idle expiry off", c.TouchInterval)
	}
	idle := c.IdleTimeout
	if idle == 0 {
		idle = defaultIdleTimeout
	}
	if idle > 0 && c.TouchInterval >= idle {
		return fmt.Errorf("TouchInterval %v must be below IdleTimeout %v", c.TouchInterval, idle)
	}
	return nil
}

func (c Config) validateLocking() error {
	switch {
	case c.Locking > LockAuto:
		return fmt.Errorf("unknown LockMode %d", c.Locking)
	case c.LockPattern != nil && c.Locking == LockNone:
		return fmt.Errorf("LockPattern %q has no effect with LockNone", c.LockPattern)
	case c.LockAutoAfter < 0:
		return fmt.Errorf("LockAutoAfter is negative (%d)", c.LockAutoAfter)
	}
	return nil
}

func (c Config) validateCookie() error {
	k := c.Cookie
	switch {
	case k.Name != "" && !isToken(k.Name):
		return fmt.Errorf("cookie name %q is not an RFC 6265 token", k.Name)
	case c.TokenHeader != "" && !isToken(c.TokenHeader):
		return fmt.Errorf("TokenHeader %q is not a valid header name", c.TokenHeader)
	case k.Secure > SecureNever:
		return fmt.Errorf("unknown SecureMode %d", k.Secure)
	case k.SameSite == http.SameSiteNoneMode && k.Secure != SecureAlways:
		return fmt.Errorf("SameSite=None needs Secure: SecureAlways (browsers reject it without Secure)")
	case strings.HasPrefix(k.Name, "__Secure-") && k.Secure != SecureAlways:
		return fmt.Errorf("cookie %q needs Secure: SecureAlways", k.Name)
	case strings.HasPrefix(k.Name, "__Host-") && (k.Secure != SecureAlways || k.Domain != "" || (k.Path != "" && k.Path != "/")):
		return fmt.Errorf("cookie %q needs SecureAlways, no Domain and Path \"/\"", k.Name)
	}
	return nil
}

func (c Config) validateSizes() error {
	if c.MaxSessionBytes < 0 {
		return fmt.Errorf("MaxSessionBytes is negative (%d)", c.MaxSessionBytes)
	}
	return nil
}

// withDefaults fills zero fields. It assumes Validate passed.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	// Own copies of the switches: the caller's pointers may change later.
	c.Cookie.HttpOnly = new(valueOr(c.Cookie.HttpOnly, *d.Cookie.HttpOnly))
	c.Cookie.Persist = new(valueOr(c.Cookie.Persist, *d.Cookie.Persist))
	setIfZero(&c.Cookie.Name, d.Cookie.Name)
	setIfZero(&c.Cookie.Path, d.Cookie.Path)
	setIfZero(&c.Cookie.SameSite, d.Cookie.SameSite)
	setIfZero(&c.Lifetime, d.Lifetime)
	setIfZero(&c.IdleTimeout, d.IdleTimeout)
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0 // off
	}
	setIfZero(&c.LockAutoAfter, d.LockAutoAfter)
	setIfZero(&c.LockWait, d.LockWait)
	setIfZero(&c.LockTTL, d.LockTTL)
	setIfZero(&c.StoreTimeout, d.StoreTimeout)
	setIfZero(&c.CompressAbove, d.CompressAbove)
	setIfZero(&c.MaxSessionBytes, d.MaxSessionBytes)
	setIfZero(&c.MaxSessionsPerUser, d.MaxSessionsPerUser)
	if c.Codec == nil {
		c.Codec = d.Codec
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IdleTimeout > 0 && c.TouchInterval == 0 {
		c.TouchInterval = min(c.IdleTimeout/10, defaultTouchCap)
	}
	return c
}

// valueOr returns *p, or def when p is nil.
func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func setIfZero[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// isToken reports whether s is a non-empty RFC 7230 token (valid as a cookie
// or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}
