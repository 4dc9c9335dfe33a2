//go:build !linux

package rpc

import (
	"net"
	"time"
)

// setUnackedTimeout is Linux-only (TCP_USER_TIMEOUT); elsewhere a stalled
// connection recovers when TCP retransmits.
func setUnackedTimeout(net.Conn, time.Duration) {}
