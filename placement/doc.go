/*
Package placement decides which nodes hold a session.

# Overview

Session tokens are hashed into a fixed number of partitions, and each
partition is held by an owner and a replica chosen from the current member
set. A Table is the answer for one member set:

	tb := placement.New(memberNames, 0) // 0: DefaultPartitions
	owner, replica := tb.Holders(tb.Partition(token))

The result is a pure function of the member names and the partition count:
every node that sees the same members builds an identical table without
talking to the others. Input order and duplicates do not matter, nothing is
random, and the hashes are written out in this package instead of using
hash/maphash (seeded per process) or map iteration order. Table.ID
fingerprints the inputs (and the algorithm version); nodes exchange it as the
placement epoch, so a node whose membership view differs is detected instead
of silently writing to the wrong owner.

A Table is immutable and safe for concurrent use. Build a new one on every
membership change; Moved tells how many copies the change transfers.

# Placement

Partition p goes to the members with the highest and second-highest score

	score(m, p) = mix64(hash(m) ^ p*0x9E3779B97F4A7C15)

where hash is FNV-1a 64 followed by mix64, the splitmix64 finalizer. This is
rendezvous (highest-random-weight) hashing. Equal scores, which only
colliding name hashes produce, go to the smaller name. The owner and replica
are different members whenever there are at least two; with one member the
replica is "", with none both are "".

Rendezvous hashing was chosen over a hash ring because adding or removing a
member changes only the partitions where that member ranks in the top two:
the ranking of the other members is unaffected. A ring needs many virtual
nodes per member to balance, and finding a replica on a different member
means walking the ring past the owner's other virtual nodes; one ranking
gives both owner and replica here. The cost of
rendezvous is O(members) per partition, which is paid once in New; lookups
read two precomputed uint16 member indexes.

# Partitions

A key's partition is its hash scaled to [0, partitions) with a
multiply-shift, so it does not depend on the members at all: sessions move
between nodes a partition at a time.

Each member owns a partition with probability 1/N, so its owner count
varies like a binomial with mean P/N, and the most loaded of N members sits a
few standard deviations above the mean. More partitions make that relative
spread smaller; they cost New time and 4 bytes per partition. Measured over
N=3..32 and three name schemes (node-07, cloud host names, pod names), with
BenchmarkPartitionCount, the most loaded owner had:

	partitions  max/mean  random 32-member sets >1.15  New (32 members)
	4096        1.203     79%                          0.6 ms
	8192        1.139     22%                          1.3 ms
	16384       1.102     0.5% (worst 1.158)           2.6-3.5 ms
	32768       1.101     0%   (worst 1.116)           5.8 ms

DefaultPartitions is 16384: the smallest count that keeps the most loaded
owner within 1.15x the mean for the tested name sets (and for 199 of 200
random 32-member sets), while New with 32 members stays well below the
20 ms budget for rebuilding on a membership change. With 200,000 random
sessions the most loaded owner holds at most 1.107x the mean sessions, and
copies (owner plus replica) are within 1.064x. Clusters larger than 32
members want more partitions; pass the count to New.

# Movement

For a join, the newcomer takes exactly the partitions where it now ranks in
the top two: it receives one copy for each, and no other member receives
anything (a former owner demoted to replica keeps its copy). That is its fair
share, about 2P/(N+1) copies. For a leave, each partition the leaver held
needs one new copy (the third-ranked member moves up), exactly the copies the
leaver held, about 2P/N. TestMovement checks both exactly; because the
shares themselves vary like the load above, it measures at most 1.064x the
ideal 2P/(N+1) and 2P/N for N=3..32 (target: 1.2x).

Table.Without builds the table without one member. Because of the property
above, it differs from the receiver only in the partitions that member held,
which is how the store finds where a partition's data lived before a member
joined or restarted.
*/
package placement
