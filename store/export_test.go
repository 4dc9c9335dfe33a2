package store

import (
	"crypto/tls"

	"github.com/e5b1d45c/sessring/internal/peertls"
	"github.com/e5b1d45c/sessring/placement"
)

// halt stops a node without handing over or leaving: with the node's host
// crashed on the in-memory network first, it is what SIGKILL looks like to
// the rest of the cluster.
func (n *Node) halt() {
	n.closeOnce.Do(n.shutdown)
}

func peerTLSFor(key []byte) (*tls.Config, error) { return peertls.FromSecret(key) }

func placementPartitionOf(key string) int { return placement.PartitionOf(key, 2048) }
