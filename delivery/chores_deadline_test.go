package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// holdTables makes the webhook tables wait for the test: on PostgreSQL a
// transaction holds them locked (ACCESS EXCLUSIVE: even reads wait), on
// SQLite one holds the write lock. It returns once they are held; release
// ends that transaction.
func holdTables(t *testing.T, db *store.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	held, free, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, func(tx *store.Tx) error {
			q := `UPDATE settings SET updated_at = updated_at WHERE name = ''`
			if db.Driver().Name() == "postgres" {
				q = `LOCK TABLE webhook_jobs, webhook_deliveries, webhook_events IN ACCESS EXCLUSIVE MODE`
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
			close(held)
			<-free
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatal(err)
	}
	var once bool
	release = func() {
		if !once {
			once = true
			close(free)
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

// boundedWithin runs f and fails the test if it has not returned after
// limit, when it releases the tables (release) and waits for it.
func boundedWithin(t *testing.T, what string, limit time.Duration, release func(), f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		release()
		err := <-done
		t.Fatalf("%s waited for the held tables until they were released (%s; then: %v)", what, time.Since(start).Round(time.Second), err)
		return nil
	}
}

// TestMaintenanceChoresAreBounded: a replay job's run and a pruning pass
// whose database call hangs (the tables held by another transaction) give
// up within their bound, and the next run does the work. They ran on the
// Run's context alone, without a deadline: maintain, which runs them one
// after the other, waited as long as the call did, and every chore with it
// (queue gauges, pruning, replay jobs, forgetting endpoints).
func TestMaintenanceChoresAreBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		s.jobsTimeout, s.pruneStepTimeout = 300*time.Millisecond, 300*time.Millisecond
		_, _, job := replayFixture(t, s, clock)
		// The job is claimed, then its first chunk waits.
		var release func()
		s.jobChunk = func() {
			s.jobChunk = nil
			release = holdTables(t, db)
		}
		// A watchdog: the bound is jobsTimeout, and handing the job
		// back (releaseJob) may wait its own 5 s for the tables.
		// A run whose 300 ms a loaded machine spent before its first
		// chunk held nothing: the next one (the job handed back, or
		// never claimed) goes on to it.
		for try := 0; release == nil; try++ {
			if try == 10 {
				t.Fatal("10 runs of 300 ms ended before the job's first chunk")
			}
			err := boundedWithin(t, "a replay job's run", 8*time.Second, func() {
				if release != nil {
					release()
				}
			}, func() error { return s.runJobs(ctx) })
			if err != nil {
				t.Logf("run cut short: %v", err)
			}
		}
		if err := boundedWithin(t, "pruning", 8*time.Second, release, func() error { _, err := s.Prune(ctx); return err }); err == nil {
			t.Error("pruning with the tables held: no error")
		}
		release()
		// The next runs do the work: the job, handed back or its lease
		// ended, is resumed and completes; pruning succeeds. They have
		// the real bounds: what is checked here is that the work was
		// left to be done, and a loaded machine may take longer than
		// 300 ms over it (a run cut then hands the job back unfinished).
		s.jobsTimeout, s.pruneStepTimeout = jobsTimeout, pruneStepTimeout
		clock.Advance(2 * jobLease)
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if j, err := s.GetJob(ctx, job.ID); err != nil || j.Status != "completed" {
			t.Fatalf("job after the next run: %+v %v, want completed", j, err)
		}
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
