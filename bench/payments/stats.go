package main

import (
	"math"
	"slices"
	"time"
)

// latencies are observed durations, in any order.
type latencies []time.Duration

// percentile is the nearest-rank p-th percentile in milliseconds (0 when
// empty), rounded to microseconds.
func (l latencies) percentile(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return ms(s[rank-1])
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
