package peertls

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Sentinel errors, tested with errors.Is.
var (
	// ErrBadKey means the shared secret has an unsupported length.
	ErrBadKey = errors.New("peertls: bad secret key")

	// ErrPeerUnauthenticated means the peer did not present a certificate
	// for the key derived from the shared secret: it was configured with a
	// different secret, or it is not a cluster member. The verify callback
	// returns it, so it aborts the handshake on the side that detected it.
	ErrPeerUnauthenticated = errors.New("peertls: peer not authenticated by cluster key")

	// ErrOtherCluster means the peer did not agree on this node's cluster
	// name (see WithClusterName).
	ErrOtherCluster = errors.New("peertls: peer belongs to another cluster")
)

// hkdfInfo separates this derivation from any other use of the secret (for
// example cookie or backup encryption keys derived from the same value).
const hkdfInfo = "sessring peer tls v1"

// FromSecret returns a TLS configuration for peer traffic authenticated by
// the shared cluster secret. The same value works for tls.Server and
// tls.Client: it presents the certificate derived from secret, requires one
// from the peer, and accepts the peer only if its certificate carries the
// public key derived from secret or from one of the older secrets (key
// rotation, see the package doc). Every secret must be 16, 24 or 32 bytes
// and not all zero (else ErrBadKey); none is retained.
func FromSecret(secret []byte, older ...[]byte) (*tls.Config, error) {
	priv, err := deriveChecked(secret)
	if err != nil {
		return nil, err
	}
	cert, err := selfSigned(priv)
	if err != nil {
		return nil, err
	}
	accepted := []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}
	for _, o := range older {
		p, err := deriveChecked(o)
		if err != nil {
			return nil, err
		}
		accepted = append(accepted, p.Public().(ed25519.PublicKey))
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The server asks for any certificate; the pin below decides.
		ClientAuth: tls.RequireAnyClientCert,
		// InsecureSkipVerify only disables the client's default chain and
		// hostname verification, which cannot work here: peers are dialled
		// by IP:port and the certificate is self-signed. It is safe because
		// VerifyConnection runs on every handshake (including resumption)
		// regardless of this flag and rejects any peer whose leaf key is not
		// the one derived from the secret, and the TLS 1.3 handshake proves
		// the peer holds the matching private key. Never set this flag
		// without such a check.
		InsecureSkipVerify: true,
		VerifyConnection:   pinned(accepted),
	}, nil
}

// CheckSecret reports whether secret can be a cluster secret: 16, 24 or 32
// bytes, and not all zero (the value of a key that was never filled in).
func CheckSecret(secret []byte) error {
	switch len(secret) {
	case 16, 24, 32:
	default:
		return fmt.Errorf("peertls: secret is %d bytes, want 16, 24 or 32: %w",
			len(secret), ErrBadKey)
	}
	if !slices.ContainsFunc(secret, func(b byte) bool { return b != 0 }) {
		return fmt.Errorf("peertls: secret is all zero bytes: %w", ErrBadKey)
	}
	return nil
}

func deriveChecked(secret []byte) (ed25519.PrivateKey, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, err
	}
	return deriveKey(secret)
}

// deriveKey turns the shared secret into the cluster's Ed25519 key pair.
func deriveKey(secret []byte) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("peertls: derive key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// pinned returns a VerifyConnection callback accepting only peers whose leaf
// certificate carries one of the keys in accepted.
func pinned(accepted []ed25519.PublicKey) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("peertls: peer sent no certificate: %w", ErrPeerUnauthenticated)
		}
		got, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
		if !ok || !slices.ContainsFunc(accepted, func(k ed25519.PublicKey) bool { return k.Equal(got) }) {
			return fmt.Errorf("peertls: peer certificate key does not match: %w",
				ErrPeerUnauthenticated)
		}
		return nil
	}
}

// The certificate's validity window is deliberately wide and fixed: the pin
// on the public key is the only check peers apply, and a fixed window means
// nodes with skewed clocks, or started decades apart, build equivalent
// certificates.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// certSubject names the certificate so it is recognisable in packet captures
// and TLS debugging output; no peer checks it.
const certSubject = "sessring peer"

// selfSigned builds the self-signed certificate every node presents for the
// derived key.
func selfSigned(priv ed25519.PrivateKey) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: certSubject},
		NotBefore:    certNotBefore,
		NotAfter:     certNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{
			x509.ExtKeyUsageServerAuth,
			x509.ExtKeyUsageClientAuth,
		},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("peertls: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("peertls: parse certificate: %w", err)
	}
	return tls.Certificate{
		Certificate: [][]byte{der},
		PrivateKey:  priv,
		Leaf:        leaf,
	}, nil
}

// alpnPrefix starts the ALPN protocol name that carries the cluster name.
const alpnPrefix = "sessring/"

// WithClusterName returns a copy of cfg that also refuses peers of another
// cluster: both ends offer the ALPN protocol "sessring/<name>", and each
// checks that exactly it was agreed, so two clusters that share a key (or a
// certificate authority) still cannot talk to each other. It works on top
// of any configuration, FromSecret's or your own PKI's; an empty name
// returns cfg unchanged, which is what nodes without a name speak.
func WithClusterName(cfg *tls.Config, name string) *tls.Config {
	if name == "" || cfg == nil {
		return cfg
	}
	proto := alpnPrefix + name
	c := cfg.Clone()
	c.NextProtos = []string{proto}
	verify := cfg.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.NegotiatedProtocol != proto {
			return fmt.Errorf("peertls: peer is not in cluster %q: %w", name, ErrOtherCluster)
		}
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	return c
}
