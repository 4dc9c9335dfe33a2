package gossip

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"unicode/utf8"

	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/hashicorp/memberlist"
)

// Meta is the node metadata carried in gossip.
type Meta struct {
	// RPCAddr is the host:port peers dial for session traffic; empty means
	// the node serves none. A wildcard or empty host (a listener on
	// 0.0.0.0, [::] or ":port") is replaced by the node's advertised IP.
	RPCAddr string
	// Incarnation is random per process start, so peers can tell that a node
	// with the same Name restarted and lost its memory. (It is not
	// memberlist's incarnation counter, which only orders a node's own
	// messages.) New fills in a random one when it is zero.
	Incarnation uint64
	// MinVersion and MaxVersion are the protocol versions the node speaks
	// (see Versions). Both zero means absent, as in the metadata of a node
	// of the first release; New and SetMeta fill in this build's range.
	MinVersion, MaxVersion int
}

// Versions returns the protocol versions the node speaks: 1 to 1 when the
// metadata carries none (a node of the first release).
func (m Meta) Versions() (lo, hi int) {
	if m.MinVersion == 0 && m.MaxVersion == 0 {
		return version.V1, version.V1
	}
	return m.MinVersion, m.MaxVersion
}

func (m Meta) versionRange() version.Range {
	lo, hi := m.Versions()
	return version.Range{Min: lo, Max: hi}
}

// Encoding, version 1 (big endian):
//
//	[0]     version (1)
//	[1:9]   Incarnation
//	[9]     len(RPCAddr)
//	[10:]   RPCAddr, exactly len(RPCAddr) bytes
//
// Version 2 appends the protocol versions the node speaks:
//
//	[10+len]  MinVersion
//	[11+len]  MaxVersion
//
// A version above 1 must keep the layout before it as a prefix and may
// append fields; decoders ignore what follows the fields they know in such
// versions, so a newer node stays visible to older ones during a rolling
// upgrade (a node of the first release reads version 2 as version 1). Each
// version itself allows no trailing bytes, which keeps each Meta's
// encoding unique: a Meta without protocol versions is written as version
// 1, one with them as version 2.
const (
	metaVersion1 = 1
	metaVersion2 = 2
	metaHeader   = 1 + 8 + 1
	// MaxRPCAddrLen bounds Meta.RPCAddr so that Meta always fits
	// memberlist.MetaMaxSize (512 bytes).
	MaxRPCAddrLen = 255
)

// MarshalBinary encodes m in the compact versioned form above (at most 267
// bytes). It fails, wrapping ErrBadMeta, if RPCAddr is too long, not UTF-8
// or not a host:port, or if only one of MinVersion and MaxVersion is set or
// they are not an ordered pair within 1 to 255.
func (m Meta) MarshalBinary() ([]byte, error) {
	if err := checkRPCAddr(m.RPCAddr); err != nil {
		return nil, err
	}
	withVersions := m.MinVersion != 0 || m.MaxVersion != 0
	if r := m.versionRange(); withVersions && !r.Valid() {
		return nil, fmt.Errorf("%w: protocol versions %d..%d", ErrBadMeta, r.Min, r.Max)
	}
	b := make([]byte, metaHeader, metaHeader+len(m.RPCAddr)+2)
	b[0] = metaVersion1
	binary.BigEndian.PutUint64(b[1:9], m.Incarnation)
	b[9] = byte(len(m.RPCAddr))
	b = append(b, m.RPCAddr...)
	if withVersions {
		b[0] = metaVersion2
		b = append(b, byte(m.MinVersion), byte(m.MaxVersion))
	}
	return b, nil
}

// UnmarshalBinary decodes b, rejecting empty, truncated, oversized or
// otherwise malformed input with an error wrapping ErrBadMeta. It never
// panics and leaves m unchanged on error.
func (m *Meta) UnmarshalBinary(b []byte) error {
	switch {
	case len(b) > memberlist.MetaMaxSize:
		return fmt.Errorf("%w: %d bytes exceed the %d-byte limit", ErrBadMeta, len(b), memberlist.MetaMaxSize)
	case len(b) == 0:
		return fmt.Errorf("%w: empty", ErrBadMeta)
	case b[0] == 0:
		return fmt.Errorf("%w: unknown version 0", ErrBadMeta)
	case len(b) < metaHeader:
		return fmt.Errorf("%w: truncated header (%d of %d bytes)", ErrBadMeta, len(b), metaHeader)
	}
	end := metaHeader + int(b[9])
	if len(b) < end {
		return fmt.Errorf("%w: truncated address (%d of %d bytes)", ErrBadMeta, len(b)-metaHeader, end-metaHeader)
	}
	addr := string(b[metaHeader:end])
	if err := checkRPCAddr(addr); err != nil {
		return err
	}
	out := Meta{RPCAddr: addr, Incarnation: binary.BigEndian.Uint64(b[1:9])}
	if b[0] >= metaVersion2 {
		if len(b) < end+2 {
			return fmt.Errorf("%w: truncated protocol versions", ErrBadMeta)
		}
		out.MinVersion, out.MaxVersion = int(b[end]), int(b[end+1])
		// Zero means "not advertised" in a Meta value, never on the wire:
		// a version-2 encoding always carries a real range.
		if out.MinVersion == 0 || out.MaxVersion == 0 || !out.versionRange().Valid() {
			return fmt.Errorf("%w: protocol versions %d..%d", ErrBadMeta, out.MinVersion, out.MaxVersion)
		}
		end += 2
	}
	if b[0] <= metaVersion2 && len(b) > end {
		return fmt.Errorf("%w: %d trailing bytes in version %d", ErrBadMeta, len(b)-end, b[0])
	}
	*m = out
	return nil
}

func checkRPCAddr(a string) error {
	switch {
	case a == "":
		return nil
	case len(a) > MaxRPCAddrLen:
		return fmt.Errorf("%w: RPCAddr is %d bytes, limit %d", ErrBadMeta, len(a), MaxRPCAddrLen)
	case !utf8.ValidString(a):
		return fmt.Errorf("%w: RPCAddr %q is not UTF-8", ErrBadMeta, a)
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		return fmt.Errorf("%w: RPCAddr %q: %v", ErrBadMeta, a, err)
	}
	return nil
}

// localMeta hands this node's encoded metadata to memberlist. It implements
// memberlist.Delegate; sessring sends no user messages or state of its own
// through gossip, so the other methods do nothing.
type localMeta struct {
	mu    sync.Mutex // guards value and encoded
	value Meta
	// encoded is value's encoding, at most 267 bytes (under MetaMaxSize).
	encoded []byte
}

var _ memberlist.Delegate = (*localMeta)(nil)

// set replaces the metadata; b is m's encoding.
func (d *localMeta) set(m Meta, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.value, d.encoded = m, b
}

func (d *localMeta) get() Meta {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.value
}

// NodeMeta returns the encoded Meta; it always fits limit (MetaMaxSize).
func (d *localMeta) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.encoded
}

func (d *localMeta) NotifyMsg([]byte)                           {}
func (d *localMeta) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *localMeta) LocalState(join bool) []byte                { return nil }
func (d *localMeta) MergeRemoteState(buf []byte, join bool)     {}
