package placement_test

import (
	"fmt"

	"github.com/e5b1d45c/sessring/placement"
)

func ExampleNew() {
	// Every node builds the same table from the same member names, in any
	// order, so they all agree where a session lives.
	tb := placement.New([]string{"app-2", "app-0", "app-1"}, 0)

	p := tb.Partition("session-42")
	owner, replica := tb.Holders(p)
	fmt.Println("partition:", p)
	fmt.Println("owner:", owner)
	fmt.Println("replica:", replica)
	fmt.Println("same on another node:", tb.ID() == placement.New([]string{"app-0", "app-1", "app-2"}, 0).ID())
	// Output:
	// partition: 6554
	// owner: app-0
	// replica: app-2
	// same on another node: true
}

func ExampleMoved() {
	// A fourth node joins a three-node cluster. Only copies the newcomer
	// must hold move: its fair share is 2 copies x 1024 partitions / 4 nodes = 512.
	before := placement.New([]string{"app-0", "app-1", "app-2"}, 1024)
	after := placement.New([]string{"app-0", "app-1", "app-2", "app-3"}, 1024)

	moved := placement.Moved(before, after)
	received := len(after.Owned("app-3")) + len(after.Replicated("app-3"))
	fmt.Println("copies moved:", moved)
	fmt.Println("all to the newcomer:", moved == received)
	// Output:
	// copies moved: 493
	// all to the newcomer: true
}

func ExampleTable_Without() {
	// After app-3 joined, the data of a partition it now holds is still on
	// the holders of the table without app-3.
	tb := placement.New([]string{"app-0", "app-1", "app-2", "app-3"}, 64)
	before := tb.Without("app-3")
	for _, p := range tb.Owned("app-3")[:3] {
		owner, replica := before.Holders(p)
		fmt.Printf("partition %d: copy from %s or %s\n", p, owner, replica)
	}
	// Output:
	// partition 3: copy from app-2 or app-1
	// partition 4: copy from app-1 or app-0
	// partition 9: copy from app-1 or app-0
}

func ExampleTable_Role() {
	tb := placement.New([]string{"app-0", "app-1", "app-2"}, 8)
	for p := 0; p < 3; p++ {
		fmt.Printf("partition %d:", p)
		for _, m := range tb.Members() {
			fmt.Printf(" %s=%v", m, tb.Role(p, m))
		}
		fmt.Println()
	}
	// Output:
	// partition 0: app-0=none app-1=owner app-2=replica
	// partition 1: app-0=none app-1=owner app-2=replica
	// partition 2: app-0=replica app-1=owner app-2=none
}
