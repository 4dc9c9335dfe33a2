package peertls_test

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/e5b1d45c/sessring/internal/peertls"
)

// Two nodes configured with the same cluster secret authenticate each other.
func ExampleFromSecret() {
	secret := []byte("0123456789abcdef0123456789abcdef") // use 32 random bytes
	cfg, err := peertls.FromSecret(secret)
	if err != nil {
		fmt.Println(err)
		return
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Server(a, cfg).Write([]byte("hello peer")) // handshakes, then writes
	cli := tls.Client(b, cfg)
	buf := make([]byte, 10)
	n, err := cli.Read(buf)
	fmt.Println(string(buf[:n]), err)

	_, err = peertls.FromSecret([]byte("too short"))
	fmt.Println(err)
	// Output:
	// hello peer <nil>
	// peertls: secret is 9 bytes, want 16, 24 or 32: peertls: bad secret key
}
