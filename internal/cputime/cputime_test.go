package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	const stat = "cpu  100 5 50 9000 7 3 2 0 0 0\ncpu0 50 2 25 4500 3 1 1 0 0 0\n"
	// user 100 + nice 5 + system 50 + irq 3 + softirq 2 = 160 ticks of 10 ms.
	if got, want := parseStat(stat), 1600*time.Millisecond; got != want {
		t.Errorf("parseStat = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7", "cpu -1 0 0 0 0 0 0"} {
		if got := parseStat(bad); got != 0 {
			t.Errorf("parseStat(%q) = %v, want 0", bad, got)
		}
	}
}

func TestProcessCountsWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("Process is not measured on this platform")
	}
	before := Process()
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	if after := Process(); after-before <= 0 {
		t.Errorf("Process did not advance over 50 ms of spinning (%v → %v, %d loops)", before, after, x)
	}
}
