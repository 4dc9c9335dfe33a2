package store

import (
	"testing"
	"time"
)

func TestAbandonQueue(t *testing.T) {
	q := abandonQueue{kick: make(chan struct{}, 1)}
	now := time.Unix(1000, 0)
	q.add([]byte("a"), []string{"n1", "n2"}, now.Add(time.Minute))
	q.add([]byte("b"), []string{"n1"}, now.Add(time.Second))
	select {
	case <-q.kick:
	default:
		t.Fatal("add did not wake the sender")
	}
	if pending, _ := q.stats(); pending != 3 {
		t.Fatalf("pending %d, want 3", pending)
	}
	// Past b's deadline only a's two calls are handed out.
	calls := q.take(now.Add(2 * time.Second))
	if len(calls) != 2 || string(calls[0].frame) != "a" || calls[0].addr != "n1" || calls[1].addr != "n2" {
		t.Fatalf("take = %+v, want a to n1 and n2", calls)
	}
	if pending, _ := q.stats(); pending != 0 {
		t.Fatalf("pending %d after take, want 0", pending)
	}
	// A failed call goes back ahead of calls queued meanwhile.
	q.add([]byte("c"), []string{"n3"}, now.Add(time.Minute))
	q.putBack(calls[1:])
	calls = q.take(now)
	if len(calls) != 2 || calls[0].addr != "n2" || calls[1].addr != "n3" {
		t.Fatalf("after putBack take = %+v, want n2 then n3", calls)
	}
}

func TestAbandonQueueBounded(t *testing.T) {
	q := abandonQueue{kick: make(chan struct{}, 1)}
	now := time.Unix(1000, 0)
	for i := range maxAbandons + 10 {
		q.add([]byte{byte(i)}, []string{"n1"}, now.Add(time.Minute))
	}
	pending, dropped := q.stats()
	if pending != maxAbandons || dropped != 10 {
		t.Fatalf("pending %d dropped %d, want %d and 10", pending, dropped, maxAbandons)
	}
	// The oldest were dropped.
	if calls := q.take(now); calls[0].frame[0] != 10 {
		t.Fatalf("oldest kept call %d, want 10", calls[0].frame[0])
	}
}
