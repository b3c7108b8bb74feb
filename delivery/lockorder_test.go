package delivery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestRecordLocksEndpointsFirst: recording a failure (which updates the
// endpoint's failure streak) while the endpoint is deleted must not
// deadlock on PostgreSQL. The deletion locks the endpoint, then its pending
// deliveries; recording locks the delivery rows it updates and, had it
// written the streak after them, would then wait for the endpoint the
// deletion holds while the deletion waits for a delivery it holds. The
// database would abort one of them (40P01) after deadlock_timeout, and
// InTx would run it again. SQLite's write transactions are exclusive: no
// lock order to get wrong there.
func TestRecordLocksEndpointsFirst(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	rc := newReceiver(t)
	rc.status(500)
	ep, _ := mustEndpoint(t, s, rc.URL)
	id := enqueue(t, s, Event{Type: TypeTest})

	w, batch := attemptOne(t, s)

	// Once recording has updated the delivery row, the endpoint is deleted
	// in another transaction; recording goes on once that one waits for a
	// lock recording holds.
	var recordRuns, deleteRuns atomic.Int32
	deleted := make(chan error, 1)
	s.recordLocked = func() {
		if recordRuns.Add(1) > 1 {
			return
		}
		pid := make(chan int, 1)
		go func() {
			deleted <- db.InTx(ctx, func(tx *store.Tx) error {
				deleteRuns.Add(1)
				var p int
				if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&p); err != nil {
					return err
				}
				select {
				case pid <- p:
				default:
				}
				return s.deleteEndpoint(ctx, tx, ep.ID)
			})
		}()
		p := <-pid
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var waiting bool
			if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)`, p).
				Scan(&waiting); err != nil {
				t.Error(err)
				return
			}
			if waiting {
				return
			}
			if time.Now().After(deadline) {
				t.Error("the deletion never waited for the recording transaction")
				return
			}
		}
	}
	if err := w.record(batch); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if r, d := recordRuns.Load(), deleteRuns.Load(); r != 1 || d != 1 {
		t.Fatalf("recording ran %d times, the deletion %d times: a deadlock aborted one of them", r, d)
	}
	// The deletion came second: it dead-lettered the recorded delivery.
	if d := onlyDelivery(t, s, id); d.Status != StatusDead || d.LastError != "endpoint deleted" || d.Attempts != 1 {
		t.Fatalf("delivery: %+v", d)
	}
}
