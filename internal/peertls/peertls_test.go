package peertls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"
)

// handshakeTimeout bounds every test connection so a bug hangs no test.
const handshakeTimeout = 5 * time.Second

func secret(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func mustConfig(t *testing.T, s []byte) *tls.Config {
	t.Helper()
	cfg, err := FromSecret(s)
	if err != nil {
		t.Fatalf("FromSecret(%d bytes) error = %v, want nil", len(s), err)
	}
	return cfg
}

// otherCert returns a client/server config with an unrelated self-signed
// ECDSA certificate and no verification at all: a TLS speaker that is not a
// cluster member.
func otherCert(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "intruder"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:         tls.RequireAnyClientCert,
		InsecureSkipVerify: true,
	}
}

// handshake runs one TLS connection over loopback TCP and reports each side's
// error. After the handshake the server sends one byte the client must read:
// in TLS 1.3 the client finishes before the server has checked the client's
// certificate, so a rejection by the server only shows on the client's read.
// A nil cliCfg makes the client speak plaintext.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config) (srvErr, cliErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() { done <- serveOne(l, srvCfg) }()

	c, err := net.DialTimeout("tcp", l.Addr().String(), handshakeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if cliCfg == nil {
		_, cliErr = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if cliErr == nil {
			_, cliErr = c.Read(make([]byte, 1))
		}
	} else {
		tc := tls.Client(c, cliCfg)
		cliErr = tc.Handshake()
		if cliErr == nil {
			_, cliErr = tc.Read(make([]byte, 1))
		}
	}
	c.Close()
	return <-done, cliErr
}

func serveOne(l net.Listener, cfg *tls.Config) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	_, err = tc.Write([]byte{'k'})
	return err
}

func TestSameSecretHandshakes(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		srv, cli := mustConfig(t, secret(1, n)), mustConfig(t, secret(1, n))
		srvErr, cliErr := handshake(t, srv, cli)
		if srvErr != nil || cliErr != nil {
			t.Errorf("%d-byte secret: handshake errors server=%v client=%v, want nil, nil",
				n, srvErr, cliErr)
		}
	}
}

func TestDifferentSecretsFailBothDirections(t *testing.T) {
	a, b := mustConfig(t, secret(1, 32)), mustConfig(t, secret(2, 32))
	for _, tc := range []struct {
		name     string
		srv, cli *tls.Config
	}{
		{"a serves b", a, b},
		{"b serves a", b, a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvErr, cliErr := handshake(t, tc.srv, tc.cli)
			if srvErr == nil || cliErr == nil {
				t.Fatalf("handshake errors server=%v client=%v, want both non-nil", srvErr, cliErr)
			}
			// The client checks the server's certificate first.
			if !errors.Is(cliErr, ErrPeerUnauthenticated) {
				t.Errorf("client error = %v, want ErrPeerUnauthenticated", cliErr)
			}
		})
	}
}

func TestIntrudersRejected(t *testing.T) {
	member := mustConfig(t, secret(3, 32))
	noCert := otherCert(t)
	noCert.Certificates = nil
	for _, tc := range []struct {
		name     string
		srv, cli *tls.Config
		wantSrv  error // sentinel the server error must wrap; nil: any error
		wantCli  error
	}{
		{"client with other cert", member, otherCert(t), ErrPeerUnauthenticated, nil},
		{"client without cert", member, noCert, nil, nil},
		{"plaintext client", member, nil, nil, nil},
		{"server with other cert", otherCert(t), member, nil, ErrPeerUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvErr, cliErr := handshake(t, tc.srv, tc.cli)
			if srvErr == nil || cliErr == nil {
				t.Fatalf("handshake errors server=%v client=%v, want both non-nil", srvErr, cliErr)
			}
			if tc.wantSrv != nil && !errors.Is(srvErr, tc.wantSrv) {
				t.Errorf("server error = %v, want %v", srvErr, tc.wantSrv)
			}
			if tc.wantCli != nil && !errors.Is(cliErr, tc.wantCli) {
				t.Errorf("client error = %v, want %v", cliErr, tc.wantCli)
			}
		})
	}
}

func TestKeyLengths(t *testing.T) {
	for _, n := range []int{0, 1, 8, 15, 16, 17, 23, 24, 25, 31, 32, 33, 64} {
		_, err := FromSecret(secret(3, n))
		wantOK := n == 16 || n == 24 || n == 32
		if gotOK := err == nil; gotOK != wantOK {
			t.Errorf("FromSecret(%d bytes) error = %v, want ok=%v", n, err, wantOK)
		}
		if !wantOK && !errors.Is(err, ErrBadKey) {
			t.Errorf("FromSecret(%d bytes) error = %v, want ErrBadKey", n, err)
		}
	}
}

func TestConfigShape(t *testing.T) {
	cfg := mustConfig(t, secret(4, 16))
	if cfg.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion = %#x, want TLS 1.3 (%#x)", cfg.MinVersion, tls.VersionTLS13)
	}
	if cfg.ClientAuth != tls.RequireAnyClientCert {
		t.Errorf("ClientAuth = %v, want RequireAnyClientCert", cfg.ClientAuth)
	}
	if cfg.VerifyConnection == nil {
		t.Errorf("VerifyConnection = nil, want the key pin (InsecureSkipVerify is set)")
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf.NotBefore.After(time.Now()) || leaf.NotAfter.Before(time.Now()) {
		t.Errorf("certificate valid %v..%v, want a window containing now", leaf.NotBefore, leaf.NotAfter)
	}
}

func TestDerivationIsDeterministic(t *testing.T) {
	pubOf := func(s []byte) ed25519.PublicKey {
		return mustConfig(t, s).Certificates[0].Leaf.PublicKey.(ed25519.PublicKey)
	}
	if a, b := pubOf(secret(5, 24)), pubOf(secret(5, 24)); !a.Equal(b) {
		t.Errorf("same secret derived keys %x and %x, want equal", a, b)
	}
	if a, b := pubOf(secret(5, 24)), pubOf(secret(6, 24)); a.Equal(b) {
		t.Errorf("different secrets both derived key %x, want different keys", a)
	}
}

func TestPinRejectsMissingCertificate(t *testing.T) {
	verify := mustConfig(t, secret(7, 32)).VerifyConnection
	if err := verify(tls.ConnectionState{}); !errors.Is(err, ErrPeerUnauthenticated) {
		t.Errorf("VerifyConnection(no certificates) = %v, want ErrPeerUnauthenticated", err)
	}
}

// TestAllZeroSecretRefused: a key that was never filled in (make([]byte,
// 32)) is the same on every misconfigured cluster; it must not be a key.
func TestAllZeroSecretRefused(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		if _, err := FromSecret(make([]byte, n)); !errors.Is(err, ErrBadKey) {
			t.Errorf("FromSecret(%d zero bytes) error = %v, want ErrBadKey", n, err)
		}
		if _, err := FromSecret(secret(1, n), make([]byte, n)); !errors.Is(err, ErrBadKey) {
			t.Errorf("FromSecret(key, %d zero bytes as an older key) error = %v, want ErrBadKey", n, err)
		}
	}
}

// TestRotation walks the three steps of a key rotation: at every step each
// pair of nodes that can coexist in the cluster handshakes, and a node that
// only knows the old key is refused once the old key is retired.
func TestRotation(t *testing.T) {
	oldKey, newKey := secret(1, 32), secret(2, 32)
	cfg := func(primary []byte, older ...[]byte) *tls.Config {
		t.Helper()
		c, err := FromSecret(primary, older...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := cfg(oldKey)
	step1 := cfg(oldKey, newKey) // sends old, accepts new
	step2 := cfg(newKey, oldKey) // sends new, accepts old
	step3 := cfg(newKey)
	for _, tc := range []struct {
		name     string
		srv, cli *tls.Config
		ok       bool
	}{
		{"before and step 1", before, step1, true},
		{"step 1 and step 2", step1, step2, true},
		{"step 2 and step 1", step2, step1, true},
		{"step 2 and step 3", step2, step3, true},
		{"step 3 and before", step3, before, false},
		{"before and step 2", before, step2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvErr, cliErr := handshake(t, tc.srv, tc.cli)
			if ok := srvErr == nil && cliErr == nil; ok != tc.ok {
				t.Errorf("handshake server=%v client=%v, want success=%v", srvErr, cliErr, tc.ok)
			}
		})
	}
}

// TestClusterName: two clusters that share a key stay apart once named; a
// name never changes what an unnamed node accepts from an unnamed node.
func TestClusterName(t *testing.T) {
	base := mustConfig(t, secret(8, 32))
	blue, green := WithClusterName(base, "blue"), WithClusterName(base, "green")
	for _, tc := range []struct {
		name     string
		srv, cli *tls.Config
		ok       bool
	}{
		{"same name", blue, WithClusterName(base, "blue"), true},
		{"different names", blue, green, false},
		{"named server, unnamed client", blue, base, false},
		{"unnamed server, named client", base, blue, false},
		{"both unnamed", base, WithClusterName(base, ""), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvErr, cliErr := handshake(t, tc.srv, tc.cli)
			if ok := srvErr == nil && cliErr == nil; ok != tc.ok {
				t.Errorf("handshake server=%v client=%v, want success=%v", srvErr, cliErr, tc.ok)
			}
		})
	}
}
