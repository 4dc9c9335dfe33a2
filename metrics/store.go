package metrics

import "github.com/e5b1d45c/sessring/store"

// store reports a node's Stats: sessions, bytes and partitions by role,
// membership, request and replication counters, and the write-behind queue
// of its cold tier. Every series carries node="<name>".
func (e emitter) store(s *store.Stats) {
	node := label{"node", s.Name}
	storeGauges(e, s, node)
	storeCounters(e, s, node)
	storeBackup(e, &s.Backup, node)
}

func storeGauges(e emitter, s *store.Stats, node label) {
	const (
		sessions   = "sessring_store_sessions"
		bytes      = "sessring_store_bytes"
		partitions = "sessring_store_partitions"
	)
	sessionsHelp := "Session copies held by this node, by role under its current view (orphan: partitions that moved away, kept for OrphanGrace)."
	e.gauge(sessions, sessionsHelp, float64(s.OwnedSessions), node, label{"role", "owner"})
	e.gauge(sessions, sessionsHelp, float64(s.ReplicaSessions), node, label{"role", "replica"})
	e.gauge(sessions, sessionsHelp, float64(s.OrphanSessions), node, label{"role", "orphan"})
	bytesHelp := "Bytes of the session copies held, by role."
	e.gauge(bytes, bytesHelp, float64(s.OwnedBytes), node, label{"role", "owner"})
	e.gauge(bytes, bytesHelp, float64(s.ReplicaBytes), node, label{"role", "replica"})
	e.gauge(bytes, bytesHelp, float64(s.OrphanBytes), node, label{"role", "orphan"})
	e.gauge("sessring_store_bytes_held", "Bytes counted against MaxBytes.", float64(s.BytesHeld), node)
	partsHelp := "Placement partitions this node holds, by role."
	e.gauge(partitions, partsHelp, float64(s.PartitionsOwned), node, label{"role", "owner"})
	e.gauge(partitions, partsHelp, float64(s.PartitionsReplica), node, label{"role", "replica"})
	e.gauge("sessring_store_partitions_pending", "Partitions this node holds that are still being pulled after a membership change.", float64(s.PartitionsPending), node)
	e.gauge("sessring_store_members", "Live members in this node's view, itself included.", float64(len(s.Members)), node)
	e.gauge("sessring_store_lock_abandons_pending", "Calls still to deliver that free leases granted to Lock requests whose caller gave up.", float64(s.LockAbandonsPending), node)
	e.gauge("sessring_store_cluster_version", "Protocol version the cluster speaks: the highest every live member supports.", float64(s.ClusterVersion), node)
}

func storeCounters(e emitter, s *store.Stats, node label) {
	for _, c := range []counterDef{
		{"sessring_store_reads_total", "Session loads (Find, Load) started on this node.", s.Reads},
		{"sessring_store_writes_total", "Session writes installed by this node as owner.", s.Writes},
		{"sessring_store_deletes_total", "Session deletes requested through this node that succeeded.", s.Deletes},
		{"sessring_store_requests_served_total", "Requests answered by this node as owner.", s.Served},
		{"sessring_store_requests_forwarded_total", "Requests this node sent on to the session's owner.", s.Forwarded},
		{"sessring_store_retries_total", "Request attempts repeated while placement settled.", s.Retries},
		{"sessring_store_resyncs_total", "Times this node re-pulled its partitions after being cut off from the majority.", s.Resyncs},
		{"sessring_store_duplicate_writes_total", "Write attempts found already applied (retry after a lost reply), not applied again.", s.DuplicateWrites},
		{"sessring_store_replicated_total", "Session versions sent to replicas.", s.Replicated},
		{"sessring_store_replica_writes_total", "Session versions accepted as replica.", s.ReplicaWrites},
		{"sessring_store_replication_errors_total", "Failed sends to replicas.", s.ReplicationErrors},
		{"sessring_store_repairs_total", "Newer copies adopted from a replica after a lost acknowledgement.", s.Repairs},
		{"sessring_store_anti_entropy_repairs_total", "Partitions synced by anti-entropy.", s.AntiEntropyRepairs},
		{"sessring_store_handoff_entries_total", "Sessions received by pull, handover or lease hand-back.", s.HandoffEntries},
		{"sessring_store_partitions_pulled_total", "Partitions completed by pull.", s.PartitionsPulled},
		{"sessring_store_view_mismatches_total", "Requests whose sender used another placement.", s.ViewMismatches},
		{"sessring_store_expired_total", "Sessions expired by this node as owner.", s.Expired},
		{"sessring_store_full_total", "Writes refused because MaxBytes was reached.", s.Full},
		{"sessring_store_lock_abandons_dropped_total", "Lock abandon calls dropped because the queue was full (such a lease lasts until its ttl).", s.LockAbandonsDropped},
		{"sessring_store_evicted_total", "Sessions ended under memory pressure (EvictUnprotected); they are lost.", s.Evicted},
	} {
		e.counter(c.name, c.help, c.v, node)
	}
}

func storeBackup(e emitter, b *store.BackupStats, node label) {
	e.gauge("sessring_store_backup_pending", "Sessions waiting to be written to the cold tier (write-behind).", float64(b.Pending), node)
	for _, c := range []counterDef{
		{"sessring_store_backup_queued_total", "Session versions queued for the cold tier.", b.Queued},
		{"sessring_store_backup_written_total", "Puts to the cold tier that succeeded.", b.Written},
		{"sessring_store_backup_deleted_total", "Removals from the cold tier.", b.Deleted},
		{"sessring_store_backup_failed_total", "Cold-tier attempts that failed (and were retried).", b.Failed},
		{"sessring_store_backup_dropped_total", "Versions refused because the write-behind queue was full.", b.Dropped},
		{"sessring_store_backup_restored_total", "Sessions loaded back from the cold tier.", b.Restored},
		{"sessring_store_backup_passivated_total", "Session bodies dropped from memory because they are safe in the cold tier.", b.Passivated},
		{"sessring_store_backup_rehydrated_total", "Passivated sessions loaded back on use.", b.Rehydrated},
	} {
		e.counter(c.name, c.help, c.v, node)
	}
}
