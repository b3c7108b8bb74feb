package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// BenchmarkEnqueueFanOut is one event to 100 endpoints in a transaction of
// its own, on SQLite: how long the single writer is held by a fan-out
// (docs/webhook-engine-benchmarks.md, round 4). Each delivery lands on its
// endpoint's own page of the queue index, and every dirty page is written
// to the log at commit.
func BenchmarkEnqueueFanOut(b *testing.B) {
	db := storetest.SQLite(b)
	s, err := New(db, Options{Clock: vaspd.SystemClock{}})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		u := fmt.Sprintf("https://receiver%d.example/hook", i)
		if _, _, err := s.CreateEndpoint(context.Background(), EndpointInput{URL: &u}); err != nil {
			b.Fatal(err)
		}
	}
	payload := map[string]any{"transaction": map[string]any{"id": "Transaction:x", "status": "COMPLETED"}}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := s.Enqueue(ctx, tx, Event{Type: TypeIncomingPayment, Data: payload})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDueEndpointsBusy is the query run before every claim, on SQLite,
// with 32 busy endpoints: each has 256 rows claimed and 1 000 more due.
// Claimed rows must be out of its way (their next_attempt_at is the lease
// end): with a lease kept in a column outside the queue index it stepped
// over all of them, 6.5 ms instead of 0.11 ms (round 4 of
// docs/webhook-engine-benchmarks.md).
func BenchmarkDueEndpointsBusy(b *testing.B) {
	db := storetest.SQLite(b)
	clock := vaspd.NewFakeClock(t0)
	s, err := New(db, Options{Clock: clock, ClaimBatch: 256, PerEndpoint: 256, MaxInFlight: 100000})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 32; i++ {
		u := fmt.Sprintf("https://r%d.example/hook", i)
		if _, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: &u}); err != nil {
			b.Fatal(err)
		}
	}
	for k := 0; k < 13; k++ {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for j := 0; j < 100; j++ {
				if _, err := s.Enqueue(ctx, tx, Event{Type: TypeTest}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	clock.Advance(time.Second)
	// Lease 256 rows of each endpoint, as a claim does.
	targets, err := s.dueEndpoints(ctx, store.Micros(clock.Now()), "")
	if err != nil || len(targets) != 32 {
		b.Fatal(len(targets), err)
	}
	err = db.InTx(ctx, func(tx *store.Tx) error {
		for _, t := range targets {
			rows, err := tx.QueryContext(ctx, claimQuery(tx.Driver(), false), t.id, store.Micros(clock.Now()), 256, store.Micros(clock.Now().Add(time.Minute)), "tok")
			if err != nil {
				return err
			}
			rows.Close()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.dueEndpoints(ctx, store.Micros(clock.Now()), ""); err != nil {
			b.Fatal(err)
		}
	}
}
