package delivery

import (
	"context"
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
