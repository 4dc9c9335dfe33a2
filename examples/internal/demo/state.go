package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// A node prints one state line when its HTTP server listens and one when it
// has joined the cluster, so that people see where to point a browser and
// programs (examples/cluster, tests) learn the addresses it picked:
//
//	node n1 joining: http=http://127.0.0.1:41237 gossip=127.0.0.1:39121
//	node n1 ready: http=http://127.0.0.1:41237 gossip=127.0.0.1:39121

// Node states in state lines.
const (
	StateJoining = "joining"
	StateReady   = "ready"
)

// State is what a state line says.
type State struct {
	Name, State string
	URL         string // http://host:port of the app
	Gossip      string // host:port to join
}

// String renders the state line (without newline).
func (s State) String() string {
	return fmt.Sprintf("node %s %s: http=%s gossip=%s", s.Name, s.State, s.URL, s.Gossip)
}

// ParseState parses a state line; ok is false for any other line.
func ParseState(line string) (s State, ok bool) {
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "node" || !strings.HasSuffix(f[2], ":") {
		return State{}, false
	}
	s.Name, s.State = f[1], strings.TrimSuffix(f[2], ":")
	s.URL, ok = strings.CutPrefix(f[3], "http=")
	if !ok {
		return State{}, false
	}
	if s.Gossip, ok = strings.CutPrefix(f[4], "gossip="); !ok {
		return State{}, false
	}
	return s, true
}

// ShortID is how the demo shows a session: the first 12 hex digits of
// SHA-256(token). It identifies the session to a person without revealing
// anything that would let them use it.
func ShortID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

// freeGossipAddr returns host:port with a port that is free for both TCP
// and UDP (memberlist binds both) at the time of the call. Another process
// could take it before the node binds it; store.Open then fails with
// "address in use" and the command can simply be run again.
func freeGossipAddr(host string) (string, error) {
	var lastErr error
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		addr := net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr, nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no port free for TCP and UDP on %s: %w", host, lastErr)
}
