package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // -debug-addr
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// benchConfig is one benchmark run's parameters.
type benchConfig struct {
	n           int             // events in the throughput run
	conc        int             // raw POST concurrency = delivery.Options.PerEndpoint
	rate        int             // fixed enqueue rate of the latency and isolation runs, events/s
	dur         time.Duration   // length of each fixed-rate run
	warmup      time.Duration   // sent before each fixed-rate run, not counted
	dead        int             // timing-out endpoints in the isolation run
	deadRate    int             // events/s sent to every timing-out endpoint
	deadTimeout time.Duration   // their attempt timeout
	maxInFlight int             // delivery.Options.MaxInFlight; 0 = the default
	phases      map[string]bool // which of throughput, latency, isolation to run
	enqueueMany bool            // the throughput run enqueues with EnqueueMany (one call per transaction)
}

// benchMain prints one JSON line: the raw loopback POST rate, then for each
// database the durable end-to-end delivery rate, enqueue→delivered latency
// at a fixed rate, and the isolation run.
func benchMain(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c benchConfig
	fs.IntVar(&c.n, "n", 10000, "events in the throughput run")
	fs.IntVar(&c.conc, "c", 16, "raw POST concurrency, and the engine's per-endpoint concurrency")
	fs.IntVar(&c.rate, "rate", 200, "fixed enqueue rate of the latency and isolation runs, events/s")
	fs.DurationVar(&c.dur, "dur", 10*time.Second, "length of each fixed-rate run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "each fixed-rate run is sent this long first, not counted (its figures are reported apart)")
	fs.IntVar(&c.dead, "dead", 100, "timing-out endpoints beside the healthy one in the isolation run")
	fs.IntVar(&c.deadRate, "dead-rate", 5, "events/s sent to the timing-out endpoints (each goes to all of them)")
	fs.DurationVar(&c.deadTimeout, "dead-timeout", 10*time.Second, "attempt timeout of the timing-out endpoints (the engine's default)")
	fs.IntVar(&c.maxInFlight, "max-inflight", 0, "the engine's MaxInFlight (0 = its default)")
	fs.BoolVar(&c.enqueueMany, "enqueue-many", false, "throughput run: enqueue each transaction's 100 events with one EnqueueMany call instead of 100 Enqueue calls")
	phases := fs.String("phases", "throughput,latency,isolation", "phases to run (a subset is for profiling; the goals need all)")
	dbs := fs.String("db", "sqlite,postgres", "databases to run on (postgres is skipped without -pg)")
	pgURL := fs.String("pg", os.Getenv("VASPD_TEST_POSTGRES_URL"), "PostgreSQL server URL; a schema is created and dropped per run")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run here")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the whole run here (sampled; go tool pprof -sample_index=alloc_space)")
	debugAddr := fs.String("debug-addr", "", "serve net/http/pprof here during the run (e.g. 127.0.0.1:6060)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p {
		case "throughput", "latency", "isolation":
			c.phases[p] = true
		default:
			return fmt.Errorf("unknown phase %q", p)
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		// Written when the run ends: the allocs profile is the runtime's
		// sampled record of every allocation since the start, complete up
		// to the last collection (hence the GC first).
		defer func() {
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
		}()
	}
	if *debugAddr != "" {
		go func() { _ = http.ListenAndServe(*debugAddr, nil) }()
	}
	ctx := context.Background()
	rc, err := newReceiver(0)
	if err != nil {
		return err
	}
	rc.serve(nil, nil)
	defer rc.Close()

	out := map[string]any{"bench": "webhooks", "n": c.n, "concurrency": c.conc, "cpus": runtime.NumCPU(), "loadavg_start": loadAvg(),
		"rate": c.rate, "dur_s": c.dur.Seconds(), "warmup_s": c.warmup.Seconds(), "dead_endpoints": c.dead, "max_inflight": c.maxInFlight,
		"phases": *phases, "enqueue_many": c.enqueueMany}
	for _, kind := range strings.Split(*dbs, ",") {
		var goal float64
		switch kind {
		case "sqlite":
			goal = 0.5
		case "postgres":
			goal = 0.3
			if *pgURL == "" {
				out["postgres"] = map[string]any{"skipped": "no -pg / VASPD_TEST_POSTGRES_URL"}
				continue
			}
		default:
			return fmt.Errorf("unknown database %q", kind)
		}
		// The raw rate is measured right before and right after each
		// database's run, and averaged, so the ratio compares numbers taken
		// under the same machine load.
		before, err := rawRate(ctx, rc, 2*time.Second, c.conc)
		if err != nil {
			return err
		}
		r, err := benchDB(ctx, rc, kind, *pgURL, c)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		after, err := rawRate(ctx, rc, 2*time.Second, c.conc)
		if err != nil {
			return err
		}
		raw := (before.perSecond + after.perSecond) / 2
		r["raw_posts_per_s"] = round(raw)
		r["raw_posts_per_s_before_after"] = []float64{round(before.perSecond), round(after.perSecond)}
		rawCPU := (before.cpuPerPost + after.cpuPerPost) / 2
		rawMachine := (before.machinePerPost + after.machinePerPost) / 2
		r["raw_cpu_us_per_post"] = micros(rawCPU)
		r["raw_machine_cpu_us_per_post"] = micros(rawMachine)
		if d, ok := r["deliveries_per_s"].(float64); ok {
			r["vs_raw"] = round(d / raw)
			r["goal_vs_raw"] = goal
			r["goal_vs_raw_met"] = r["vs_raw"].(float64) >= goal
		}
		if cpu, ok := r["cpu_us_per_delivery"].(float64); ok && cpu > 0 {
			r["cpu_vs_raw"] = round(micros(rawCPU) / cpu)
		}
		if cpu, ok := r["machine_cpu_us_per_delivery"].(float64); ok && cpu > 0 {
			r["machine_cpu_vs_raw"] = round(micros(rawMachine) / cpu)
		}
		out[kind] = r
	}
	out["loadavg_end"] = loadAvg()
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}

// loadAvg is the machine's 1-minute load average, or -1: benchmark numbers
// taken on a busy machine say so.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func micros(d time.Duration) float64 { return round(float64(d.Nanoseconds()) / 1e3) }
