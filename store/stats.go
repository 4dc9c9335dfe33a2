package store

import "sync/atomic"

// counters are the node's monotonically increasing event counts.
type counters struct {
	reads, writes, deletes     atomic.Uint64
	served, forwarded          atomic.Uint64
	requests, retries          atomic.Uint64
	duplicateWrites, resyncs   atomic.Uint64
	replicated, replicaWrites  atomic.Uint64
	replicationErrors, repairs atomic.Uint64
	antiEntropyRepairs         atomic.Uint64
	handoffEntries             atomic.Uint64
	partitionsPulled           atomic.Uint64
	viewMismatches             atomic.Uint64
	expired, full, evicted     atomic.Uint64
	// antiEntropyCalls and antiEntropyBytes count the digest and repair calls
	// this node made as owner and their body bytes both ways (request plus
	// reply, frame headers not included): the idle cost of anti-entropy,
	// read by BenchmarkAntiEntropyIdle. Not in Stats yet.
	antiEntropyCalls, antiEntropyBytes atomic.Uint64
	// leasePages counts lease replies that left hand-back sessions for
	// the next page (serveLease). Not in Stats.
	leasePages atomic.Uint64
}

// Stats is a snapshot of a node's state and counters.
type Stats struct {
	Name    string
	Members []string
	TableID uint64
	// ClusterVersion is Node.ClusterVersion: the protocol version the
	// cluster speaks.
	ClusterVersion int

	// Sessions and bytes held, by role under the current view. Orphaned
	// copies (partitions that moved away, kept for OrphanGrace) are counted
	// separately.
	OwnedSessions, ReplicaSessions, OrphanSessions int
	OwnedBytes, ReplicaBytes, OrphanBytes          int64
	// BytesHeld is the total counted against MaxBytes.
	BytesHeld int64
	// PartitionsOwned, PartitionsReplica and PartitionsPending (being pulled
	// after a membership change).
	PartitionsOwned, PartitionsReplica, PartitionsPending int

	Reads, Writes, Deletes uint64
	// Served counts requests answered as owner; Forwarded those sent on to
	// another node; Retries the attempts repeated while placement settled.
	Served, Forwarded, Retries uint64
	// DuplicateWrites counts write attempts found already applied (a retry
	// after a lost reply) and answered without applying them again.
	DuplicateWrites uint64
	// Resyncs counts the times this node got the majority back after being
	// cut off and re-pulled every partition it holds.
	Resyncs uint64
	// Replicated counts versions sent to replicas; ReplicaWrites versions
	// accepted as replica; ReplicationErrors failed sends; Repairs newer
	// copies adopted from a replica; AntiEntropyRepairs partitions repaired
	// by anti-entropy; HandoffEntries sessions received by pull, handover or
	// lease hand-back (the name predates the word pull, and stays for
	// compatibility); PartitionsPulled partitions completed by pull.
	Replicated, ReplicaWrites, ReplicationErrors, Repairs uint64
	AntiEntropyRepairs, HandoffEntries, PartitionsPulled  uint64
	// ViewMismatches counts requests whose sender used another placement.
	ViewMismatches uint64
	// Expired sessions (by this node as owner); Full writes refused by
	// MaxBytes; Evicted sessions ended under memory pressure
	// (EvictUnprotected), which are lost.
	Expired, Full, Evicted uint64
	// LockAbandonsPending counts calls still to deliver that free leases
	// granted to failed Lock requests; LockAbandonsDropped those dropped
	// when the queue was full (such a lease lasts until its ttl).
	LockAbandonsPending int
	LockAbandonsDropped uint64

	Backup BackupStats
}

// Stats returns a snapshot. It walks every partition: call it for
// monitoring, not per request.
func (n *Node) Stats() Stats {
	s := Stats{Name: n.name, BytesHeld: n.used.Load(), ClusterVersion: n.ClusterVersion()}
	if v := n.view.Load(); v != nil {
		s.Members, s.TableID = v.table.Members(), v.id()
		n.roleStats(v, &s)
	}
	c := &n.stats
	s.Reads, s.Writes, s.Deletes = c.reads.Load(), c.writes.Load(), c.deletes.Load()
	s.Served, s.Forwarded, s.Retries = c.served.Load(), c.forwarded.Load(), c.retries.Load()
	s.DuplicateWrites, s.Resyncs = c.duplicateWrites.Load(), c.resyncs.Load()
	s.Replicated, s.ReplicaWrites = c.replicated.Load(), c.replicaWrites.Load()
	s.ReplicationErrors, s.Repairs = c.replicationErrors.Load(), c.repairs.Load()
	s.AntiEntropyRepairs, s.HandoffEntries = c.antiEntropyRepairs.Load(), c.handoffEntries.Load()
	s.PartitionsPulled, s.ViewMismatches = c.partitionsPulled.Load(), c.viewMismatches.Load()
	s.Expired, s.Full, s.Evicted = c.expired.Load(), c.full.Load(), c.evicted.Load()
	s.LockAbandonsPending, s.LockAbandonsDropped = n.abandons.stats()
	if n.backup != nil {
		s.Backup = n.backup.stats()
	}
	return s
}

func (n *Node) roleStats(v *view, s *Stats) {
	for p, part := range n.parts {
		items, bytes, _ := part.stats()
		owner, replica := v.table.Holders(p)
		switch n.name {
		case owner:
			s.PartitionsOwned++
			s.OwnedSessions += items
			s.OwnedBytes += bytes
		case replica:
			s.PartitionsReplica++
			s.ReplicaSessions += items
			s.ReplicaBytes += bytes
		default:
			s.OrphanSessions += items
			s.OrphanBytes += bytes
		}
		if (owner == n.name || replica == n.name) && !part.isReady() {
			s.PartitionsPending++
		}
	}
}
