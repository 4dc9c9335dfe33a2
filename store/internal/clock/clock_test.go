package clock

import (
	"sync"
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		move func(m *Manual)
		want time.Time
	}{
		{"unmoved", func(*Manual) {}, start},
		{"advance", func(m *Manual) { m.Advance(time.Second) }, start.Add(time.Second)},
		{"advance twice", func(m *Manual) { m.Advance(time.Second); m.Advance(time.Millisecond) }, start.Add(time.Second + time.Millisecond)},
		{"backwards", func(m *Manual) { m.Advance(-time.Minute) }, start.Add(-time.Minute)},
		{"set", func(m *Manual) { m.Set(start.Add(time.Hour)) }, start.Add(time.Hour)},
		{"set earlier", func(m *Manual) { m.Set(start.Add(-time.Hour)) }, start.Add(-time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManual(start)
			tc.move(m)
			if got := m.Now(); !got.Equal(tc.want) {
				t.Fatalf("Now() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestManualConcurrent(t *testing.T) {
	m := NewManual(time.Unix(1, 0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				m.Advance(time.Nanosecond)
				m.Now()
			}
		}()
	}
	wg.Wait()
	if got, want := m.Now(), time.Unix(1, 800); !got.Equal(want) {
		t.Fatalf("Now() after 800 advances of 1ns = %v, want %v", got, want)
	}
}

func TestRealMoves(t *testing.T) {
	var c Clock = Real{}
	a := c.Now()
	if a.IsZero() {
		t.Fatal("Real.Now() is the zero time")
	}
	if b := c.Now(); b.Before(a) {
		t.Fatalf("Real.Now() went back: %v then %v", a, b)
	}
}

func TestNewManualZeroPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewManual(time.Time{}) did not panic")
		}
	}()
	NewManual(time.Time{})
}
