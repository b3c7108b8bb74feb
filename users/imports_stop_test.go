package users_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestImportJobGracefulStopHandsBack: an importer whose Run is stopped
// (SIGTERM: the daemon's context ends) in the middle of a job leaves it at
// a row boundary and hands it back, so another process resumes it at once,
// not a lease later; every row is imported once and the job announced
// once.
func TestImportJobGracefulStopHandsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		ann := &announcements{}
		opt := users.ImporterOptions{Announcer: ann, Lease: time.Hour, PollInterval: time.Hour}
		// The stop (Run's context ending) comes in the middle of row 40.
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		stopping := cancellingAt(t, db, clock, 40, stop)
		first := users.NewImporter(stopping, opt)
		const rows = 100
		j, err := first.Submit(ctx, bigCSV(rows), "vasp.example")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- first.Run(rctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Run did not stop")
		}
		mid, err := first.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if mid.Status != users.ImportProcessing || mid.Processed < 39 || mid.Processed > 40 ||
			int(mid.Successful) != countUsers(t, db) {
			t.Fatalf("after the stop %+v, %d users", mid, countUsers(t, db))
		}

		// No clock advance: the lease (an hour) must not be what lets
		// the second process in.
		second := users.NewImporter(s, opt)
		if found, err := second.Step(ctx); !found || err != nil {
			t.Fatalf("a job stopped gracefully was not handed back: %v %v", found, err)
		}
		wantImportedOnce(t, db, second, ann, j.ID, rows)
	})
}
