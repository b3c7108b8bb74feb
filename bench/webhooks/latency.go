// Fixed-rate runs and the latencies they measure.

package main

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
)

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
