// The engine under test: a delivery service on a fresh database, its
// phases (throughput, fixed-rate latency) and the isolation run.

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/cputime"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
)

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
