package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof" // -debug-addr
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/cputime"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
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

// testDB is a fresh database for one phase.
type testDB struct {
	db    *store.DB
	close func()
}

func freshDB(ctx context.Context, kind, pgURL string) (testDB, error) {
	var dsn string
	var cleanup func()
	if kind == "postgres" {
		u, drop, err := postgres.NewSchema(ctx, pgURL, "whbench_")
		if err != nil {
			return testDB{}, err
		}
		dsn, cleanup = u, func() { _ = drop() }
	} else {
		dir, err := os.MkdirTemp("", "webhook-bench")
		if err != nil {
			return testDB{}, err
		}
		dsn, cleanup = filepath.Join(dir, "vaspd.db"), func() { os.RemoveAll(dir) }
	}
	db, err := openStore(ctx, dsn)
	if err != nil {
		cleanup()
		return testDB{}, err
	}
	return testDB{db: db, close: func() { db.Close(); cleanup() }}, nil
}

// engine is a delivery service running on a fresh database.
type engine struct {
	testDB
	svc  *delivery.Service
	stop func()
}

func startEngine(ctx context.Context, kind, pgURL string, c benchConfig) (*engine, error) {
	tdb, err := freshDB(ctx, kind, pgURL)
	if err != nil {
		return nil, err
	}
	svc, err := delivery.New(tdb.db, delivery.Options{AllowNets: []string{"127.0.0.1/32"},
		PerEndpoint: c.conc, MaxInFlight: c.maxInFlight})
	if err != nil {
		tdb.close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(rctx)
	}()
	return &engine{testDB: tdb, svc: svc, stop: func() { cancel(); <-done; tdb.close() }}, nil
}

func (e *engine) endpoint(ctx context.Context, url string, types []string, timeout time.Duration) error {
	in := delivery.EndpointInput{URL: &url}
	if types != nil {
		in.EventTypes = &types
	}
	if timeout > 0 {
		ms := timeout.Milliseconds()
		in.TimeoutMS = &ms
	}
	_, _, err := e.svc.CreateEndpoint(ctx, in)
	return err
}

// payload is the type-specific part of every benchmark event: about the size
// of an OUTGOING_PAYMENT webhook.
var payload = map[string]any{"transaction": map[string]any{"id": "Transaction:019a0000-0000-7000-8000-000000000000",
	"status": "COMPLETED", "note": strings.Repeat("x", 400)}}

func benchDB(ctx context.Context, rc *receiver, kind, pgURL string, c benchConfig) (map[string]any, error) {
	out := map[string]any{}

	// Durable end-to-end throughput: n events enqueued in transactions of
	// 100 while the worker runs, timed until every delivery is recorded as
	// delivered in the database.
	e, err := startEngine(ctx, kind, pgURL, c)
	if err != nil {
		return nil, err
	}
	rc.reset()
	if err := e.endpoint(ctx, rc.url, nil, 0); err != nil {
		e.stop()
		return nil, err
	}
	if c.phases["throughput"] {
		start, cpu0, machine0 := time.Now(), cputime.Process(), cputime.Machine()
		for i := 0; i < c.n; i += 100 {
			err := e.db.InTx(ctx, func(tx *store.Tx) error {
				if c.enqueueMany {
					evs := make([]delivery.Event, min(i+100, c.n)-i)
					for j := range evs {
						evs[j] = delivery.Event{Type: delivery.TypeOutgoingPayment, Data: payload}
					}
					_, err := e.svc.EnqueueMany(ctx, tx, evs)
					return err
				}
				for j := i; j < min(i+100, c.n); j++ {
					if _, err := e.svc.Enqueue(ctx, tx, delivery.Event{Type: delivery.TypeOutgoingPayment, Data: payload}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				e.stop()
				return nil, err
			}
		}
		enqueued := time.Since(start)
		if err := waitFor(ctx, 2*time.Minute, func() bool { return rc.distinct() >= c.n }); err != nil {
			e.stop()
			return nil, fmt.Errorf("throughput run: %w (%d of %d received)", err, rc.distinct(), c.n)
		}
		received := time.Since(start)
		err = waitFor(ctx, time.Minute, func() bool {
			var n int
			err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'`).Scan(&n)
			return err == nil && n >= c.n
		})
		durable, cpu, machine := time.Since(start), cputime.Process()-cpu0, cputime.Machine()-machine0
		if err != nil {
			e.stop()
			return nil, fmt.Errorf("throughput run: deliveries not recorded: %w", err)
		}
		out["enqueue_per_s"] = round(float64(c.n) / enqueued.Seconds())
		out["received_per_s"] = round(float64(c.n) / received.Seconds())
		out["deliveries_per_s"] = round(float64(c.n) / durable.Seconds())
		if cpu > 0 {
			out["cpu_us_per_delivery"] = micros(cpu / time.Duration(c.n))
		}
		if machine > 0 {
			out["machine_cpu_us_per_delivery"] = micros(machine / time.Duration(c.n))
			out["machine_busy"] = round(float64(machine) / float64(durable) / float64(runtime.NumCPU()))
		}
	}

	if c.phases["latency"] {
		// Latency at a fixed rate, one event per transaction, on the same engine.
		rc.reset()
		lat, err := fixedRate(ctx, e, rc, c.rate, c.warmup, c.dur, delivery.TypeOutgoingPayment)
		if err != nil {
			e.stop()
			return nil, fmt.Errorf("latency run: %w", err)
		}
		out["latency"] = lat.json()
	}
	e.stop()
	if !c.phases["isolation"] {
		return out, nil
	}

	// Isolation: the healthy endpoint alone, then beside c.dead endpoints
	// that never answer, on fresh databases.
	alone, err := isolation(ctx, rc, kind, pgURL, c, 0)
	if err != nil {
		return nil, fmt.Errorf("isolation run (alone): %w", err)
	}
	beside, err := isolation(ctx, rc, kind, pgURL, c, c.dead)
	if err != nil {
		return nil, fmt.Errorf("isolation run (%d timing out): %w", c.dead, err)
	}
	ratio := beside.p(0.99).Seconds() / max(alone.p(0.99).Seconds(), 1e-6)
	out["isolation"] = map[string]any{"alone": alone.json(), "beside_dead": beside.json(),
		"p99_ratio": round(ratio), "goal_p99_ratio": 1.5, "goal_met": ratio <= 1.5}
	return out, nil
}

func isolation(ctx context.Context, rc *receiver, kind, pgURL string, c benchConfig, dead int) (latencies, error) {
	e, err := startEngine(ctx, kind, pgURL, c)
	if err != nil {
		return latencies{}, err
	}
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
		e.stop()
	}()
	rc.reset()
	if err := e.endpoint(ctx, rc.url, []string{delivery.TypeOutgoingPayment}, 0); err != nil {
		return latencies{}, err
	}
	for i := 0; i < dead; i++ {
		url, stop, err := hang()
		if err != nil {
			return latencies{}, err
		}
		stops = append(stops, stop)
		if err := e.endpoint(ctx, url, []string{delivery.TypeIncomingPayment}, c.deadTimeout); err != nil {
			return latencies{}, err
		}
	}
	deadCtx, stopDead := context.WithCancel(ctx)
	defer stopDead()
	if dead > 0 {
		// The timing-out endpoints get their load first, so they hold
		// whatever they can before the healthy stream starts.
		go func() {
			_, _ = fixedRateEnqueue(deadCtx, e, c.deadRate, c.warmup+c.dur+2*time.Second, delivery.TypeIncomingPayment)
		}()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return latencies{}, err
		}
	}
	return fixedRate(ctx, e, rc, c.rate, c.warmup, c.dur, delivery.TypeOutgoingPayment)
}

// fixedRate enqueues one event per transaction at rate for warm+dur and
// returns, for the events begun after warm, each one's enqueue→received
// latency (from just before its transaction began until the receiver saw
// it first) and the engine's part of it (from the commit until the
// receiver saw it); the warm-up's own figures ride along apart.
//
// Why a warm-up: every run starts a fresh engine on a fresh database, and
// its first events pay for opening the pool's connections and, on
// PostgreSQL, for planning each statement against a cold schema (the first
// claim's query took 50–80 ms). A 10-second stream at 200/s has 2 000
// events, so the 20 or 30 slowest of them — its p99 — measured that
// start-up instead of the engine, in either run of the isolation pair.
func fixedRate(ctx context.Context, e *engine, rc *receiver, rate int, warm, dur time.Duration, typ string) (latencies, error) {
	measureFrom := time.Now().Add(warm)
	sent, err := fixedRateEnqueue(ctx, e, rate, warm+dur, typ)
	if err != nil {
		return latencies{}, err
	}
	_ = waitFor(ctx, 30*time.Second, func() bool { return rc.distinct() >= len(sent) })
	var l latencies
	l.warm = &latencies{}
	deadline := time.Now()
	for id, at := range sent {
		into := &l
		if at.begin.Before(measureFrom) {
			into = l.warm
		}
		got, ok := rc.arrival(id)
		if !ok {
			into.missing++
			got = deadline // a lower bound
		}
		into.d = append(into.d, got.Sub(at.begin))
		into.engine = append(into.engine, max(got.Sub(at.committed), 0))
		into.tx = append(into.tx, at.committed.Sub(at.begin))
	}
	l.sort()
	l.warm.sort()
	return l, nil
}

// sentAt is when one fixed-rate transaction began and when it committed.
type sentAt struct{ begin, committed time.Time }

// fixedRateEnqueue commits one event per transaction at rate for dur,
// each in its own goroutine so a slow commit does not lower the rate, and
// returns when each transaction began and committed, by webhookId.
func fixedRateEnqueue(ctx context.Context, e *engine, rate int, dur time.Duration, typ string) (map[string]sentAt, error) {
	var mu sync.Mutex
	sent := map[string]sentAt{}
	var failed atomic.Value
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; time.Since(start) < dur && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := vaspd.NewID(vaspd.IDWebhook)
			at := time.Now()
			err := e.db.InTx(ctx, func(tx *store.Tx) error {
				_, err := e.svc.Enqueue(ctx, tx, delivery.Event{Type: typ, ID: id, Data: payload})
				return err
			})
			if err != nil {
				if ctx.Err() == nil {
					failed.Store(err)
				}
				return
			}
			committed := time.Now()
			mu.Lock()
			sent[id] = sentAt{at, committed}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return nil, err
	}
	return sent, nil
}

type latencies struct {
	d       []time.Duration // transaction begin → received, sorted
	engine  []time.Duration // commit → received, sorted
	tx      []time.Duration // transaction begin → committed (waiting for the writer included), sorted
	missing int
	warm    *latencies // the warm-up's, not counted in the above
}

func (l *latencies) sort() {
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	sort.Slice(l.engine, func(i, j int) bool { return l.engine[i] < l.engine[j] })
	sort.Slice(l.tx, func(i, j int) bool { return l.tx[i] < l.tx[j] })
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(q*float64(len(d)-1))]
}

func (l latencies) p(q float64) time.Duration { return pct(l.d, q) }

func (l latencies) json() map[string]any {
	ms := func(d time.Duration) float64 { return round(d.Seconds() * 1000) }
	out := map[string]any{"events": len(l.d), "p50_ms": ms(l.p(0.5)), "p99_ms": ms(l.p(0.99)),
		"max_ms": ms(l.p(1)), "undelivered": l.missing,
		"commit_to_received_p50_ms": ms(pct(l.engine, 0.5)), "commit_to_received_p99_ms": ms(pct(l.engine, 0.99)),
		"transaction_p50_ms": ms(pct(l.tx, 0.5)), "transaction_p99_ms": ms(pct(l.tx, 0.99))}
	if l.warm != nil && len(l.warm.d) > 0 {
		out["warmup"] = map[string]any{"events": len(l.warm.d), "p99_ms": ms(l.warm.p(0.99)), "max_ms": ms(l.warm.p(1)),
			"undelivered": l.warm.missing}
	}
	return out
}

// rawResult is one raw POST measurement: the rate, and the CPU time per
// POST of this process (client and receiver) and of the whole machine.
type rawResult struct {
	perSecond      float64
	cpuPerPost     time.Duration
	machinePerPost time.Duration
}

// rawRate is how many POSTs per second conc keep-alive clients get through
// to the receiver in dur, each with a body like the engine's.
func rawRate(ctx context.Context, rc *receiver, dur time.Duration, conc int) (rawResult, error) {
	const n = 4096 // distinct bodies, reused round robin
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	bodies := make([][]byte, n)
	for i := range bodies {
		m := map[string]any{"webhookId": vaspd.NewID(vaspd.IDWebhook), "type": delivery.TypeOutgoingPayment,
			"timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
		for k, v := range payload {
			m[k] = v
		}
		bodies[i], _ = json.Marshal(m)
	}
	rc.reset()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start, cpu0, machine0 := time.Now(), cputime.Process(), cputime.Machine()
	end := start.Add(dur)
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				i := next.Add(1) - 1
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rc.url, bytes.NewReader(bodies[i%n]))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	elapsed, cpu, machine, posts := time.Since(start), cputime.Process()-cpu0, cputime.Machine()-machine0, next.Load()
	if err, ok := failed.Load().(error); ok {
		return rawResult{}, fmt.Errorf("raw POSTs: %w", err)
	}
	r := rawResult{perSecond: float64(posts) / elapsed.Seconds()}
	if posts > 0 {
		r.cpuPerPost, r.machinePerPost = cpu/time.Duration(posts), machine/time.Duration(posts)
	}
	return r, nil
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
