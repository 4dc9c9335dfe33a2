package memnet_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
)

// selfSigned returns a certificate for ip and a pool trusting it.
func selfSigned(t *testing.T, ip string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey() error = %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "memnet test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("CreateCertificate() error = %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("ParseCertificate() error = %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSOverMemnet(t *testing.T) {
	n := memnet.New(1)
	n.SetDelay(time.Millisecond, time.Millisecond)
	a, b := hosts(n)
	rawClient, rawServer := pair(t, a, b)
	cert, pool := selfSigned(t, b.IP())
	server := tls.Server(rawServer, &tls.Config{Certificates: []tls.Certificate{cert}})
	client := tls.Client(rawClient, &tls.Config{RootCAs: pool, ServerName: b.IP()})
	deadline := time.Now().Add(5 * time.Second)
	_ = server.SetDeadline(deadline)
	_ = client.SetDeadline(deadline)

	echo := async(func() (int, error) {
		n, err := io.Copy(server, server) // echo until the client closes
		return int(n), err
	})
	msg := []byte("session 42: hello over tls")
	if _, err := client.Write(msg); err != nil {
		t.Fatalf("client Write() error = %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("client ReadFull() error = %v", err)
	}
	if string(got) != string(msg) {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
	if st := client.ConnectionState(); !st.HandshakeComplete || st.Version != tls.VersionTLS13 {
		t.Errorf("ConnectionState() handshake = %v, version = %x, want complete TLS 1.3", st.HandshakeComplete, st.Version)
	}
	_ = client.Close()
	if r := await(t, echo, 5*time.Second); r.n != len(msg) {
		t.Errorf("server echoed %d bytes (err %v), want %d", r.n, r.err, len(msg))
	}
}
