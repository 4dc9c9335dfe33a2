// Package lb is the load balancer of the examples: a round-robin
// httputil.ReverseProxy over app servers on loopback, optionally sticky.
// examples/cluster puts it in front of its demo nodes, examples/bench in
// front of the app servers it measures.
//
// # Choosing a backend
//
// Each request starts one step further round the backends. With Sticky set,
// a cookie pins each client to the backend that answered it last (HAProxy's
// "cookie SERVERID insert"), and the pinned backend is tried first.
//
// # Failover
//
// A backend that refuses the connection (it crashed) is passed over and the
// request goes to the next one (HAProxy's "option redispatch"): the
// connection never reached the dead backend, so trying elsewhere cannot run
// a request twice. Its body is buffered to be sent again. Errors after the
// connection was made (a backend dying mid-request) are not retried and
// answer 502, as a real balancer would for a non-idempotent request. With
// DownFor set, a backend that refused is tried last for that long, so a
// benchmark under a crash does not pay a refused dial per request.
package lb
