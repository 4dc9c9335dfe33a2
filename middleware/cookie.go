package middleware

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// secure decides the Secure attribute for a response to r (see SecureMode).
func (m *Manager) secure(r *http.Request) bool {
	c := &m.cfg.Cookie
	switch c.Secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	if r.TLS != nil {
		return true
	}
	if proto := forwardedProto(r); proto != "" && c.TrustForwardedProto {
		return proto != "http"
	}
	return proxied(r) || !loopbackHost(r.Host)
}

// forwardedProto returns the scheme the first proxy hop reports in
// X-Forwarded-Proto, lower-cased, or "".
func forwardedProto(r *http.Request) string {
	v, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.ToLower(strings.TrimSpace(v))
}

// proxied reports whether r carries the headers a reverse proxy adds. A
// TLS-terminating proxy often forwards to a loopback address (and nginx
// passes that address as Host), so such a request is not local development
// even when its host is loopback.
func proxied(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// loopbackHost reports whether a Host header names this machine: localhost,
// a name under .localhost (RFC 6761), or a loopback IP, with or without a
// port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// setCookie adds the session cookie for token to h. persist adds Expires and
// Max-Age matching the server-side deadline; a zero deadline is impossible
// for stored sessions (Lifetime is always set), so it is treated like a
// browser-session cookie.
func (m *Manager) setCookie(h http.Header, r *http.Request, token string, deadline time.Time, persist bool) {
	c := m.baseCookie(r, token)
	if persist && !deadline.IsZero() {
		secs := math.Ceil(deadline.Sub(m.now()).Seconds())
		c.MaxAge = max(int(secs), 1)
		c.Expires = deadline.Add(time.Second - 1).Truncate(time.Second)
	}
	m.addCookie(h, c)
	if m.cfg.TokenHeader != "" {
		h.Set(m.cfg.TokenHeader, token)
		// The response carries a credential: no cache may keep it, whatever
		// the handler asked for (Vary is set on every response, addVary).
		h.Set("Cache-Control", "private, no-store")
	}
}

// expireCookie tells the client to drop its session cookie (and, with
// TokenHeader, sends that header empty).
func (m *Manager) expireCookie(h http.Header, r *http.Request) {
	c := m.baseCookie(r, "")
	c.MaxAge = -1
	c.Expires = time.Unix(1, 0)
	m.addCookie(h, c)
	if m.cfg.TokenHeader != "" {
		h.Set(m.cfg.TokenHeader, "")
	}
}

func (m *Manager) baseCookie(r *http.Request, token string) *http.Cookie {
	k := &m.cfg.Cookie
	return &http.Cookie{
		Name:        k.Name,
		Value:       token,
		Domain:      k.Domain,
		Path:        k.Path,
		Secure:      m.secure(r),
		HttpOnly:    *k.HttpOnly,
		SameSite:    k.SameSite,
		Partitioned: k.Partitioned,
	}
}

// addCookie adds c, replacing a session cookie this request already set (a
// commit may run twice), and keeps shared caches from storing it.
func (m *Manager) addCookie(h http.Header, c *http.Cookie) {
	prefix := c.Name + "="
	kept := h["Set-Cookie"][:0]
	for _, v := range h["Set-Cookie"] {
		if !strings.HasPrefix(v, prefix) {
			kept = append(kept, v)
		}
	}
	h["Set-Cookie"] = append(kept, c.String())
	if !strings.Contains(h.Get("Cache-Control"), `no-cache="Set-Cookie"`) {
		h.Add("Cache-Control", `no-cache="Set-Cookie"`)
	}
}

// addVary marks responses as depending on the session token.
func (m *Manager) addVary(h http.Header) {
	h.Add("Vary", "Cookie")
	if m.cfg.TokenHeader != "" {
		h.Add("Vary", m.cfg.TokenHeader)
	}
}

// ValidateToken reports whether tok can be a session token: 1 to
// store.MaxTokenLen characters of the URL-safe base64 alphabet. It returns
// nil or an error wrapping ErrBadToken. It says nothing about whether the
// session exists.
func ValidateToken(tok string) error {
	if tok == "" || len(tok) > store.MaxTokenLen {
		return fmt.Errorf("%w: length %d", ErrBadToken, len(tok))
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: byte %d is %q", ErrBadToken, i, c)
		}
	}
	return nil
}

// shortToken is a log-safe prefix of a token: enough to correlate log lines,
// too short to use.
func shortToken(tok string) string {
	if len(tok) > 6 {
		return tok[:6] + "…"
	}
	return tok
}

// requestTokens returns the well-formed, distinct tokens a request carries,
// best first: the TokenHeader value, then every cookie with our name (a
// browser sends several when cookies of the same name exist for different
// paths or domains). At most maxTokenCookies are returned, so a request
// cannot make the middleware load without bound. Malformed ones are counted
// and skipped.
func (m *Manager) requestTokens(r *http.Request) []string {
	var out []string
	add := func(tok string) {
		if len(out) == maxTokenCookies {
			return
		}
		if err := ValidateToken(tok); err != nil {
			m.stats.badTokens.Add(1)
			return
		}
		for _, t := range out {
			if t == tok {
				return
			}
		}
		out = append(out, tok)
	}
	if h := m.cfg.TokenHeader; h != "" {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			add(v)
		}
	}
	for _, c := range r.CookiesNamed(m.cfg.Cookie.Name) {
		add(c.Value)
	}
	return out
}

// matches reports whether re is set and matches the request's path.
func matches(re *regexp.Regexp, r *http.Request) bool {
	return re != nil && re.MatchString(r.URL.Path)
}
