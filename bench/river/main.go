// Command river compares riverqueue/river with vaspd's own delivery queue
// (package delivery) on vaspd's webhook workload, in one process on one
// machine, so the choice between them rests on numbers (see
// docs/webhook-engine-benchmarks.md). It lives in its own module so River
// never enters vaspd's go.mod unless it wins.
//
// The workload, the same for both: n webhooks enqueued in the caller's
// transactions of 100 while the workers run; each is one POST of the same
// ~600-byte JSON body, signed (X-UMAaas-Signature and Standard Webhooks
// headers, by the webhook package), to one loopback receiver; then the
// completion is recorded durably (River: the job row completed; vaspd: the
// delivery row delivered plus its attempt-log row). Timed from the first
// insert until the database says every one is done. Both run at the same
// concurrency (River's MaxWorkers, delivery's PerEndpoint), and the raw
// loopback POST rate at that concurrency is measured before and after.
//
//	go run . -db sqlite -n 5000
//	go run . -db postgres -url postgres://postgres@127.0.0.1:5432/test?sslmode=disable -n 5000
//
// It prints one JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	dbKind := flag.String("db", "sqlite", "sqlite or postgres")
	url := flag.String("url", os.Getenv("VASPD_TEST_POSTGRES_URL"), "PostgreSQL server URL (with -db postgres); schemas are created and dropped")
	n := flag.Int("n", 5000, "webhooks per run")
	conc := flag.Int("c", 16, "concurrency: raw POST goroutines, River workers, delivery's per-endpoint limit")
	rounds := flag.Int("rounds", 2, "alternating River / vaspd runs; the best of each is reported")
	flag.Parse()
	if err := run(*dbKind, *url, *n, *conc, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "river bench:", err)
		os.Exit(1)
	}
}

// runner runs the workload once on a fresh database and returns the
// enqueue and the durable end-to-end durations.
type runner func(ctx context.Context, rc *receiver, n, conc int) (enqueue, total time.Duration, err error)

func run(dbKind, url string, n, conc, rounds int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if dbKind == "postgres" && url == "" {
		return fmt.Errorf("-url or VASPD_TEST_POSTGRES_URL is required with -db postgres")
	}
	if dbKind != "sqlite" && dbKind != "postgres" {
		return fmt.Errorf("unknown -db %q", dbKind)
	}
	rc, err := newReceiver()
	if err != nil {
		return err
	}
	defer rc.Close()

	rawBefore, err := rawRate(ctx, rc, 2*time.Second, conc)
	if err != nil {
		return err
	}
	systems := []struct {
		name string
		run  runner
	}{
		{"river", func(ctx context.Context, rc *receiver, n, conc int) (time.Duration, time.Duration, error) {
			return runRiver(ctx, rc, dbKind, url, n, conc)
		}},
		{"vaspd", func(ctx context.Context, rc *receiver, n, conc int) (time.Duration, time.Duration, error) {
			return runVaspd(ctx, rc, dbKind, url, n, conc)
		}},
	}
	rates := map[string][]float64{}
	enq := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for _, s := range systems {
			rc.reset()
			e, total, err := s.run(ctx, rc, n, conc)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			rates[s.name] = append(rates[s.name], round(float64(n)/total.Seconds()))
			enq[s.name] = append(enq[s.name], round(float64(n)/e.Seconds()))
		}
	}
	rawAfter, err := rawRate(ctx, rc, 2*time.Second, conc)
	if err != nil {
		return err
	}
	raw := (rawBefore + rawAfter) / 2
	best := func(v []float64) float64 {
		m := 0.0
		for _, x := range v {
			m = max(m, x)
		}
		return m
	}
	out := map[string]any{
		"bench": "river-vs-vaspd", "db": dbKind, "n": n, "concurrency": conc, "river_version": riverVersion,
		"raw_posts_per_s": round(raw), "raw_posts_per_s_before_after": []float64{round(rawBefore), round(rawAfter)},
		"river_deliveries_per_s": best(rates["river"]), "vaspd_deliveries_per_s": best(rates["vaspd"]),
		"river_vs_raw": round(best(rates["river"]) / raw), "vaspd_vs_raw": round(best(rates["vaspd"]) / raw),
		"river_runs": rates["river"], "vaspd_runs": rates["vaspd"],
		"river_enqueue_per_s": best(enq["river"]), "vaspd_enqueue_per_s": best(enq["vaspd"]),
		"loadavg": loadAvg(),
	}
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// loadAvg is the machine's 1-minute load average, or -1.
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

func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
