package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// breakEvents makes every replay chunk fail with a real database error
// (its query reads webhook_events) until the returned func undoes it.
func breakEvents(t *testing.T, db *store.DB) (undo func()) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `ALTER TABLE webhook_events RENAME TO webhook_events_away`); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := db.ExecContext(ctx, `ALTER TABLE webhook_events_away RENAME TO webhook_events`); err != nil {
			t.Fatal(err)
		}
	}
}

// replayFixture is an endpoint with one delivered delivery and a replay job
// queued for it.
func replayFixture(t *testing.T, s *Service, clock *vaspd.FakeClock) (*receiver, string, Job) {
	t.Helper()
	rc := newReceiver(t)
	ep, _ := mustEndpoint(t, s, rc.URL)
	id := enqueue(t, s, Event{Type: TypeTest})
	if n := step(t, s); n != 1 {
		t.Fatalf("%d attempts", n)
	}
	clock.Advance(time.Minute)
	job, err := s.StartReplay(context.Background(), ReplayParams{EndpointID: ep.ID, Since: t0.Add(-time.Hour), Until: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return rc, id, job
}

// TestReplayResumesAfterATransientError: a database error in a chunk
// leaves the job running, to be resumed (by any process) once its lease
// ends, instead of failing it.
func TestReplayResumesAfterATransientError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc, id, job := replayFixture(t, s, clock)
		var undo func()
		s.jobChunk = func() {
			s.jobChunk = nil
			undo = breakEvents(t, db)
		}
		if err := s.runJobs(ctx); err != nil {
			t.Logf("runJobs: %v", err)
		}
		undo()
		job, err := s.GetJob(ctx, job.ID)
		if err != nil || job.Status != "running" || job.Processed != 0 || !strings.Contains(job.Error, "webhook_events") {
			t.Fatalf("job after a failed chunk: %+v, %v; want running, the error shown", job, err)
		}
		clock.Advance(jobLease)
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		job, err = s.GetJob(ctx, job.ID)
		if err != nil || job.Status != "completed" || job.Processed != 1 || job.Error != "" {
			t.Fatalf("job resumed: %+v, %v; want completed with 1 processed", job, err)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusPending {
			t.Fatalf("replayed delivery: %+v", d)
		}
		if n := step(t, s); n != 1 || len(rc.requests()) != 2 {
			t.Fatalf("replay: %d attempts, %d requests", n, len(rc.requests()))
		}
	})
}

// TestReplayFailsAfterRepeatedErrors: a job whose chunk never succeeds is
// retried a bounded number of times, then fails with the reason.
func TestReplayFailsAfterRepeatedErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		_, id, job := replayFixture(t, s, clock)
		chunks := 0
		s.jobChunk = func() { chunks++ }
		undo := breakEvents(t, db)
		for i := 0; i < 3*maxJobFailures; i++ {
			if err := s.runJobs(ctx); err != nil {
				t.Logf("runJobs: %v", err)
			}
			clock.Advance(jobLease)
		}
		undo()
		job, err := s.GetJob(ctx, job.ID)
		want := fmt.Sprintf("gave up after %d failed attempts in a row", maxJobFailures)
		if err != nil || job.Status != "failed" || !strings.Contains(job.Error, want) ||
			!strings.Contains(job.Error, "webhook_events") || job.FinishedAt.IsZero() {
			t.Fatalf("job: %+v, %v; want failed, %q and the last error", job, err, want)
		}
		if chunks != maxJobFailures {
			t.Fatalf("%d chunks tried, want %d", chunks, maxJobFailures)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
			t.Fatalf("delivery: %+v", d)
		}
	})
}

// TestReplayCancel: a replay job started by mistake (the wrong range, or
// every delivered webhook of a month) can be stopped: a pending one never
// starts, a running one stops before its next chunk, and its status says
// canceled. A finished job cannot be canceled (409).
func TestReplayCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc, _, job := replayFixture(t, s, clock)

		canceled, err := s.CancelJob(ctx, job.ID)
		if err != nil || canceled.Status != JobCanceled || canceled.FinishedAt.IsZero() {
			t.Fatalf("cancel pending: %v %+v", err, canceled)
		}
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if n := step(t, s); n != 0 || len(rc.requests()) != 1 {
			t.Fatalf("a canceled job re-queued %d deliveries", n)
		}
		if _, err := s.CancelJob(ctx, job.ID); vaspd.AsError(err).Status != 409 {
			t.Fatalf("cancel a canceled job: %v", err)
		}
		if _, err := s.CancelJob(ctx, vaspd.NewID(vaspd.IDJob)); vaspd.AsError(err).Status != 404 {
			t.Fatalf("cancel an unknown job: %v", err)
		}

		// Canceled while it runs: the chunk under way finds the job no
		// longer its own and writes nothing.
		job, err = s.StartReplay(ctx, ReplayParams{EndpointID: job.Params.EndpointID, Since: t0.Add(-time.Hour), Until: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		s.jobChunk = func() {
			s.jobChunk = nil
			if _, err := s.CancelJob(ctx, job.ID); err != nil {
				t.Errorf("cancel running: %v", err)
			}
		}
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetJob(ctx, job.ID); err != nil || got.Status != JobCanceled || got.Processed != 0 {
			t.Fatalf("canceled while running: %v %+v", err, got)
		}
		if n := step(t, s); n != 0 {
			t.Fatalf("a job canceled while running re-queued %d deliveries", n)
		}
		if _, err := s.CancelJob(ctx, job.ID); vaspd.AsError(err).Status != 409 {
			t.Fatalf("cancel twice: %v", err)
		}
		// Pruned after the retention period, as finished jobs are.
		clock.Advance(31 * 24 * time.Hour)
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetJob(ctx, job.ID); vaspd.AsError(err).Status != 404 {
			t.Fatalf("canceled job kept past retention: %v", err)
		}
	})
}

// TestOverlappingReplayRefused: a second replay of an overlapping range of
// the same endpoint while the first is pending or running (a double click,
// a retried request) is refused (409, naming the job): the first job's
// re-queued deliveries, delivered again meanwhile, would be re-queued and
// sent once more. A disjoint range, another endpoint, or the same range
// once the first job has ended, are taken.
func TestOverlappingReplayRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		_, _, first := replayFixture(t, s, clock)
		p := first.Params
		for _, again := range []ReplayParams{
			p,
			{EndpointID: p.EndpointID, Since: p.Until.Add(-time.Second), Until: p.Until.Add(time.Hour), Status: StatusDead},
			{EndpointID: p.EndpointID, Since: p.Since.Add(-time.Hour), Until: p.Since.Add(time.Second)},
		} {
			_, err := s.StartReplay(ctx, again)
			if e := vaspd.AsError(err); e.Status != 409 || !strings.Contains(e.Message, first.ID) {
				t.Fatalf("overlapping %+v: %v", again, err)
			}
		}
		disjoint, err := s.StartReplay(ctx, ReplayParams{EndpointID: p.EndpointID, Since: p.Until, Until: p.Until.Add(time.Hour)})
		if err != nil {
			t.Fatalf("disjoint range: %v", err)
		}
		other, _ := mustEndpoint(t, s, "https://example.com/other")
		if _, err := s.StartReplay(ctx, ReplayParams{EndpointID: other.ID, Since: p.Since, Until: p.Until}); err != nil {
			t.Fatalf("another endpoint: %v", err)
		}
		if _, err := s.CancelJob(ctx, disjoint.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if j, _ := s.GetJob(ctx, first.ID); j.Status != "completed" {
			t.Fatalf("first job: %+v", j)
		}
		if _, err := s.StartReplay(ctx, p); err != nil {
			t.Fatalf("same range after the first ended: %v", err)
		}
	})
}

// TestReplayLastChunkCompletesTheJob: a run whose time is up just after the
// job's last chunk committed leaves the job completed. The job was ended by
// a statement of its own after the chunk, on the run's context: cut short,
// it failed and the job was handed back "running", to be taken again by
// the next run (any process) only to find nothing more and complete.
//
// The run's context ends right after the chunk: canceled there, as its
// time's being up or a stop ends it. (A 200 ms jobsTimeout slept past
// there failed on a loaded machine, the run cut before the chunk
// committed.)
func TestReplayLastChunkCompletesTheJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		_, _, job := replayFixture(t, s, clock)
		run, cut := context.WithCancel(ctx)
		defer cut()
		s.jobChunkDone = cut // the run's time runs out here
		if err := s.runJobs(run); err != nil {
			t.Logf("runJobs: %v", err)
		}
		job, err := s.GetJob(ctx, job.ID)
		if err != nil || job.Status != "completed" || job.Processed != 1 || job.FinishedAt.IsZero() {
			t.Fatalf("job after its last chunk: %+v, %v; want completed with 1 processed", job, err)
		}
	})
}
