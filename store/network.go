package store

import (
	"context"
	"net"

	"github.com/hashicorp/memberlist"
)

// Network is the seam for all traffic between nodes: peer requests (streams)
// and gossip (memberlist's transport). A nil Config.Network means real TCP
// and UDP on the configured addresses. Tests plug in an in-memory network
// (internal/memnet) that can drop, delay and partition traffic, so many nodes
// run in one process.
//
// One Network value belongs to one node: it knows the node's host, so a
// partition between hosts applies to both listening and dialing.
type Network interface {
	// Listen opens the peer-traffic listener; port 0 picks a free port.
	Listen(addr string) (net.Listener, error)
	// Dial opens a peer-traffic connection. It must honour ctx.
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// GossipTransport returns a memberlist transport bound to addr (port 0
	// picks a free port). The caller shuts it down through memberlist.
	GossipTransport(addr string) (memberlist.NodeAwareTransport, error)
}
