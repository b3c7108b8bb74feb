package delivery

import (
	"context"
	"fmt"
	"testing"

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
