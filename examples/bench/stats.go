package main

import (
	"fmt"
	"slices"
	"time"
)

// samples are per-operation durations, kept whole (runs are bounded by
// -duration) so percentiles are exact.
type samples struct{ d []time.Duration }

func (s *samples) add(d time.Duration) { s.d = append(s.d, d) }

func (s *samples) merge(o *samples) { s.d = append(s.d, o.d...) }

// percentiles returns p50 and p99 (nearest rank).
func (s *samples) percentiles() (p50, p99 time.Duration) {
	if len(s.d) == 0 {
		return 0, 0
	}
	slices.Sort(s.d)
	at := func(q float64) time.Duration { return s.d[min(len(s.d)-1, int(q*float64(len(s.d))))] }
	return at(0.50), at(0.99)
}

// dur formats a duration with three significant digits.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// rate formats an ops/s or req/s figure.
func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk", r/1e3)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// mib formats bytes as MiB.
func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
