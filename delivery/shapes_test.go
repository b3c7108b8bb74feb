package delivery

import (
	"context"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// On SQLite the multi-row statements of the delivery path — a
// transaction's events and deliveries, a batch's attempt rows and delivery
// updates — come in a few fixed shapes that the store's statement cache
// keeps compiled (statementRows): once each shape has been seen, batches
// of any size run no statement unprepared. A hundred-row statement was
// parsed again for every batch, 5–6 % of the process's CPU in the
// throughput benchmark (docs/webhook-engine-benchmarks.md, round 9b).
func TestBatchStatementsStayPrepared(t *testing.T) {
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock, func(o *Options) { o.PerEndpoint = 128; o.ClaimBatch = 256 })
	rc := newReceiver(t)
	mustEndpoint(t, s, rc.URL)
	ctx := context.Background()
	round := func(sizes ...int) {
		t.Helper()
		for _, n := range sizes {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				for range n {
					if _, err := s.Enqueue(ctx, tx, Event{Type: TypeTest, Data: map[string]any{"n": n}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for sent := 0; sent < n; {
				k := step(t, s)
				if k == 0 {
					t.Fatalf("%d of %d sent, then nothing due", sent, n)
				}
				sent += k
			}
		}
	}
	// Every shape once (1 to 32 rows by powers of two).
	round(1, 2, 4, 8, 16, 32, 63)
	_, before := db.StatementStats()
	round(100, 37, 5, 99, 64, 3)
	if _, after := db.StatementStats(); after != before {
		t.Errorf("%d statements ran unprepared in batches of 3 to 100 rows, want 0", after-before)
	}
}
