package rpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/e5b1d45c/sessring/internal/peertls"
	"github.com/e5b1d45c/sessring/internal/rpc"
)

const opGreet uint8 = 1

// greeter answers opGreet and rejects every other opcode with a coded error.
var greeter = rpc.HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	if method != opGreet {
		return nil, &rpc.RemoteError{Code: rpc.CodeUnknownMethod, Msg: fmt.Sprintf("unknown method %d", method)}
	}
	return append([]byte("hello, "), body...), nil
})

// serve starts a Server for h on a loopback port and returns its address and
// a function that stops it.
func serve(cfg rpc.Config, h rpc.Handler) (addr string, stop func()) {
	srv, err := rpc.NewServer(cfg, h)
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	return l.Addr().String(), func() { srv.Close() }
}

func Example() {
	addr, stop := serve(rpc.DefaultConfig(), greeter)
	defer stop()

	c, err := rpc.NewClient(rpc.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	reply, err := c.Call(context.Background(), addr, opGreet, []byte("node-b"))
	fmt.Println(string(reply), err)

	_, err = c.Call(context.Background(), addr, 42, nil)
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code == rpc.CodeUnknownMethod, re.Msg)
	}
	// Output:
	// hello, node-b <nil>
	// true unknown method 42
}

// Nodes sharing the cluster secret talk over mutual TLS; a node with another
// secret cannot reach the handler.
func Example_mutualTLS() {
	config := func(secret []byte) rpc.Config {
		tlsCfg, err := peertls.FromSecret(secret)
		if err != nil {
			panic(err)
		}
		cfg := rpc.DefaultConfig()
		cfg.TLS = tlsCfg
		return cfg
	}
	member := config(bytes.Repeat([]byte{7}, 32)) // in production: 32 random bytes
	outsider := config(bytes.Repeat([]byte{8}, 32))

	addr, stop := serve(member, greeter)
	defer stop()

	for _, cfg := range []rpc.Config{member, outsider} {
		c, err := rpc.NewClient(cfg)
		if err != nil {
			panic(err)
		}
		reply, err := c.Call(context.Background(), addr, opGreet, []byte("peer"))
		fmt.Printf("%q unreachable=%v unauthenticated=%v\n", reply,
			errors.Is(err, rpc.ErrUnreachable), errors.Is(err, peertls.ErrPeerUnauthenticated))
		c.Close()
	}
	// Output:
	// "hello, peer" unreachable=false unauthenticated=false
	// "" unreachable=true unauthenticated=true
}
