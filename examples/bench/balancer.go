package main

import (
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/lb"
)

// newBalancer is the load balancer in front of the app servers: round-robin
// over addrs, with sticky a cookie pins each client to the backend that
// served it (HAProxy's "cookie SERVERID insert"). A backend that refuses
// connections is tried last for 2s and the request goes to the next one
// (HAProxy's "option redispatch"), which is safe because nothing reached
// the dead backend. conns idle connections are kept per backend.
func newBalancer(addrs []string, sticky bool, conns int) (*lb.Balancer, error) {
	return lb.New(lb.Backends(addrs...), lb.Config{
		Sticky:          sticky,
		DownFor:         2 * time.Second,
		ConnsPerBackend: conns,
		DialTimeout:     time.Second,
	})
}
