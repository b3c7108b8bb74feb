package delivery

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestReplayJobGracefulStopHandsBack: a service stopped gracefully
// (SIGTERM: Run's context ends) while it holds a replay job hands the job
// back, so another process resumes it at once rather than a lease
// (jobLease, a minute) later.
func TestReplayJobGracefulStopHandsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		a, b := newTestService(t, db, clock), newTestService(t, db, clock)
		rc, id, job := replayFixture(t, a, clock)
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		claimed := make(chan struct{})
		// The stop comes once a has claimed the job, before its chunk.
		a.jobChunk = func() {
			close(claimed)
			stop()
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		select {
		case <-claimed:
		case <-time.After(30 * time.Second):
			t.Fatal("the job was never claimed")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if j, err := a.GetJob(ctx, job.ID); err != nil || j.Status != "running" || j.Processed != 0 {
			t.Fatalf("job after the stop: %+v, %v; want running, nothing processed", j, err)
		}
		// No clock advance: the lease must not be what lets b in.
		if err := b.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if j, err := b.GetJob(ctx, job.ID); err != nil || j.Status != "completed" || j.Processed != 1 {
			t.Fatalf("job after b's run: %+v, %v; want completed with 1 processed (handed back)", j, err)
		}
		if d := onlyDelivery(t, b, id); d.Status != StatusPending {
			t.Fatalf("replayed delivery: %+v", d)
		}
		if n := step(t, b); n != 1 || len(rc.requests()) != 2 {
			t.Fatalf("replay: %d attempts, %d requests", n, len(rc.requests()))
		}
	})
}

// TestDeliveriesGracefulStopHoldsNothing: a worker stopped gracefully
// while it holds claimed deliveries (one attempt in flight, the others
// queued behind it for the endpoint's room) lets the attempt finish and
// records it, and hands the others back: none stays leased, and another
// process attempts them at once.
func TestDeliveriesGracefulStopHoldsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		a, b := newTestService(t, db, clock), newTestService(t, db, clock)
		rc := newReceiver(t)
		arrived, hang := make(chan struct{}), make(chan struct{})
		var once sync.Once
		rc.mu.Lock()
		rc.answer = func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { close(arrived) })
			<-hang // every attempt a makes hangs until a is stopping
			w.WriteHeader(http.StatusOK)
		}
		rc.mu.Unlock()
		mustEndpoint(t, a, rc.URL)
		for i := 0; i < 5; i++ {
			enqueue(t, a, Event{Type: TypeTest})
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatal("no attempt started")
		}
		stop()
		time.Sleep(50 * time.Millisecond) // the stop is under way while the attempt hangs
		close(hang)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var leased, delivered int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending' AND lease_token <> ''`).Scan(&leased); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'`).Scan(&delivered); err != nil {
			t.Fatal(err)
		}
		started := len(rc.requests())
		if leased != 0 || delivered != started || started == 0 || started == 5 {
			t.Fatalf("after the stop: %d leased, %d delivered of %d attempted; want none leased, the attempts in flight delivered, some not started",
				leased, delivered, started)
		}
		// No clock advance: b attempts the rest at once.
		for n := started; n < 5; {
			k := step(t, b)
			if k == 0 {
				t.Fatalf("b attempted %d of the %d handed back, then found none due", n-started, 5-started)
			}
			n += k
		}
	})
}

// TestHandoffToAStoppedRunIsDueWhenRunReturns: rows handed off by a
// transaction that committed as Run was stopping (planned before the stop,
// accepted after it) are handed back before Run and the enqueueing call
// have both returned, not by a goroutine nobody waits for: read at once,
// they are due and unleased, so the database can be closed then and
// another process attempts them without waiting out their lease.
func TestHandoffToAStoppedRunIsDueWhenRunReturns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		mustEndpoint(t, s, rc.URL)
		var handed atomic.Int64
		s.dropHandoff = func(rows []claimed) bool { handed.Add(int64(len(rows))); return false }
		// A slow hand-back: one left to a goroutine is still under way
		// when Run returns.
		s.releaseTx = func() { time.Sleep(100 * time.Millisecond) }

		rctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		var w *worker
		for w == nil {
			w = s.running.Load()
			runtime.Gosched()
		}
		// Priming: the worker claims, attempts and records one delivery,
		// and so has read the endpoint (what a handoff needs).
		prime := enqueue(t, s, Event{Type: TypeTest})
		deadline := time.Now().Add(30 * time.Second)
		for onlyDelivery(t, s, prime).Status != StatusDelivered {
			if time.Now().After(deadline) {
				t.Fatal("the priming delivery was not delivered")
			}
			time.Sleep(5 * time.Millisecond)
		}

		const n = 3
		var ids []string
		err := db.InTx(ctx, func(tx *store.Tx) error {
			// Runs after the commit, before the handoff (registered
			// first): Run stops between the two.
			tx.AfterCommit(func() {
				stop()
				for {
					w.mu.Lock()
					stopped := w.stopped
					w.mu.Unlock()
					if stopped {
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
			ids = ids[:0]
			for i := 0; i < n; i++ {
				id, err := s.Enqueue(ctx, tx, Event{Type: TypeTest})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
		if h := handed.Load(); h != n {
			t.Fatalf("%d rows handed off, want %d: the test tested nothing", h, n)
		}
		// At once: nothing is left to hand them back later.
		for _, id := range ids {
			token, nextAt, status := deliveryRow(t, s, id)
			if token != "" || nextAt > store.Micros(clock.Now()) || status != StatusPending {
				t.Fatalf("when Run returned, %s was still leased (%q until %d, %s)", id, token, nextAt, status)
			}
		}
		if got := len(rc.requests()); got != 1 {
			t.Fatalf("%d requests, want only the priming one", got)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
