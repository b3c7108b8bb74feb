package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestRun runs the whole benchmark small, on SQLite and, when
// VASPD_TEST_POSTGRES_URL is set, on PostgreSQL: every payreq must be
// answered with a verified signed invoice, every payment must complete,
// both ledgers must balance, and the numbers must be consistent.
func TestRun(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			pg := os.Getenv("VASPD_TEST_POSTGRES_URL")
			if db == "postgres" && pg == "" {
				t.Skip("PostgreSQL: VASPD_TEST_POSTGRES_URL is not set")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, err := run(ctx, options{
				DB: db, PostgresURL: pg, Payreqs: 40, Concurrency: 4, PayreqMax: time.Minute,
				BoundTime: 100 * time.Millisecond, Payments: 5, Full: 2, PaymentMax: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.PayreqSent != 40 || r.PayreqOK != 40 {
				t.Errorf("payreqs: %d of %d answered, want 40 of 40 (%s)", r.PayreqOK, r.PayreqSent, r.PayreqFirstError)
			}
			if r.ExecuteN != 5 || r.FullN != 2 {
				t.Errorf("payments: %d executes and %d full, want 5 and 2", r.ExecuteN, r.FullN)
			}
			if r.BoundPerS <= 0 || r.PayreqPerS <= 0 || r.PayreqRatio <= 0 {
				t.Errorf("rates must be positive: bound %v, payreq %v, ratio %v", r.BoundPerS, r.PayreqPerS, r.PayreqRatio)
			}
			for name, pair := range map[string][2]float64{
				"payreq": {r.PayreqP50, r.PayreqP99}, "execute": {r.ExecuteP50, r.ExecuteP99}, "full": {r.FullP50, r.FullP99},
			} {
				if pair[0] <= 0 || pair[0] > pair[1] {
					t.Errorf("%s latency: p50 %v ms, p99 %v ms", name, pair[0], pair[1])
				}
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]float64{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := l.percentile(p); got != want {
			t.Errorf("p%v = %v ms, want %v", p, got, want)
		}
	}
	if got := latencies(nil).percentile(50); got != 0 {
		t.Errorf("empty p50 = %v", got)
	}
}
