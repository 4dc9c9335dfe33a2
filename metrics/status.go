package metrics

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/store"
)

// Status is the JSON document StatusHandler serves: one node's view of the
// cluster and how far it is from holding everything it should.
type Status struct {
	Node    string   `json:"node"`
	Members []string `json:"members"`
	// ClusterVersion is the protocol version the cluster speaks
	// (store.Node.ClusterVersion).
	ClusterVersion int `json:"cluster_version"`
	// Table summarises this node's share of the placement table.
	Table TableStatus `json:"table"`
	// Copies are the session copies this node holds.
	Copies CopyStatus `json:"copies"`
	// Backup is the write-behind queue to the cold tier (zero without one).
	Backup BackupStatus `json:"backup"`
	// RepairBacklog is Table.PartitionsPending plus Backup.Pending: work
	// left before every session this node should hold is on it and in the
	// cold tier. Zero means caught up.
	RepairBacklog int `json:"repair_backlog"`
	// Memcached lists the cold tier's servers, when StatusHandler was given
	// one.
	Memcached []ServerStatus `json:"memcached,omitempty"`
	// Events are the recent membership events this node saw, oldest first,
	// when StatusHandler was given a Recorder.
	Events []EventStatus `json:"events,omitempty"`
}

// EventStatus is a store.Event: a member joined, failed or left, or this
// node caught up (held every partition completely again) after a change.
type EventStatus struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // joined, failed, left, caught_up
	Node   string    `json:"node"` // the node that saw it
	Member string    `json:"member,omitempty"`
	// TookSeconds: for failed, how long the member had been silent when it
	// was declared dead (detection time); for caught_up, the time since the
	// change (for a failure, since the member was last heard from).
	TookSeconds float64 `json:"took_seconds,omitempty"`
	Partitions  int     `json:"partitions,omitempty"`
}

// NewEventStatus converts a store.Event.
func NewEventStatus(e store.Event) EventStatus {
	return EventStatus{Time: e.Time, Kind: e.Kind.String(), Node: e.Node, Member: e.Member, TookSeconds: e.Took.Seconds(), Partitions: e.Partitions}
}

// BackupStatus is store.BackupStats: the write-behind queue to the cold
// tier and its cumulative counts.
type BackupStatus struct {
	Pending    int    `json:"pending"`
	Queued     uint64 `json:"queued"`
	Written    uint64 `json:"written"`
	Deleted    uint64 `json:"deleted"`
	Failed     uint64 `json:"failed"`
	Dropped    uint64 `json:"dropped"`
	Restored   uint64 `json:"restored"`
	Passivated uint64 `json:"passivated"`
	Rehydrated uint64 `json:"rehydrated"`
}

// ServerStatus is backup.ServerStats: one memcached server's health.
type ServerStatus struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Failover bool   `json:"failover"`
	Up       bool   `json:"up"`
	Failures uint64 `json:"failures"`
}

// TableStatus is a node's share of the partition table.
type TableStatus struct {
	// ID identifies the placement (the member set); nodes that agree on
	// membership report the same ID. Hex, as JSON numbers lose 64-bit
	// precision in many readers.
	ID                string `json:"id"`
	PartitionsOwned   int    `json:"partitions_owned"`
	PartitionsReplica int    `json:"partitions_replica"`
	PartitionsPending int    `json:"partitions_pending"`
}

// CopyStatus counts the session copies held by role, and their bytes.
type CopyStatus struct {
	Owned        int   `json:"owned"`
	Replica      int   `json:"replica"`
	Orphan       int   `json:"orphan"`
	OwnedBytes   int64 `json:"owned_bytes"`
	ReplicaBytes int64 `json:"replica_bytes"`
	OrphanBytes  int64 `json:"orphan_bytes"`
	BytesHeld    int64 `json:"bytes_held"`
}

// NewStatus builds the Status of a node from its Stats and, optionally,
// those of its memcached cold tier.
func NewStatus(s store.Stats, mc ...backup.Stats) Status {
	st := Status{
		Node:           s.Name,
		Members:        s.Members,
		ClusterVersion: s.ClusterVersion,
		Table: TableStatus{
			ID:                strconv.FormatUint(s.TableID, 16),
			PartitionsOwned:   s.PartitionsOwned,
			PartitionsReplica: s.PartitionsReplica,
			PartitionsPending: s.PartitionsPending,
		},
		Copies: CopyStatus{
			Owned: s.OwnedSessions, Replica: s.ReplicaSessions, Orphan: s.OrphanSessions,
			OwnedBytes: s.OwnedBytes, ReplicaBytes: s.ReplicaBytes, OrphanBytes: s.OrphanBytes,
			BytesHeld: s.BytesHeld,
		},
		Backup:        BackupStatus(s.Backup),
		RepairBacklog: s.PartitionsPending + s.Backup.Pending,
	}
	if st.Members == nil {
		st.Members = []string{}
	}
	for _, m := range mc {
		for _, srv := range m.Servers {
			st.Memcached = append(st.Memcached, ServerStatus(srv))
		}
	}
	return st
}

// StatusHandler serves the Status of src.Node (which it requires), with
// its cold tier's servers and recent events when src has them, as JSON.
func StatusHandler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(src.Status())
	})
}

// Status returns the status document of s.Node (see StatusHandler).
func (s Sources) Status() Status {
	var mc []backup.Stats
	if s.Memcached != nil {
		mc = append(mc, s.Memcached.Stats())
	}
	st := NewStatus(s.Node.Stats(), mc...)
	if s.Recorder != nil {
		for _, e := range s.Recorder.Events() {
			st.Events = append(st.Events, NewEventStatus(e))
		}
	}
	return st
}
