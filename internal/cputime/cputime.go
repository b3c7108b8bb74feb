// Package cputime reads CPU clocks for the benchmarks: the CPU time this
// process has used, and the CPU time the whole machine has used. Under load
// from other processes, CPU per operation stays a fair measure of work done
// where wall-clock rates do not; the machine's clock also counts work done
// on our behalf by other processes (a PostgreSQL server on the same host).
package cputime

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Process is the CPU time (user + system) this process has used so far, or
// 0 where it cannot be read.
func Process() time.Duration { return process() }

// Machine is the CPU time every CPU of the machine has spent busy so far
// (user, nice, system, irq and softirq from /proc/stat), or 0 where it
// cannot be read. Differences of two readings are what is meaningful.
func Machine() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseStat(string(b))
}

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every Linux ABI Go
// supports.
const userHZ = 100

func parseStat(s string) time.Duration {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system (idle iowait) irq softirq
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || v < 0 {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / userHZ)
}
