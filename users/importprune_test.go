package users_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestPruneImportErrors: a finished bulk upload's row errors, which echo
// the rows' ids and values, were kept for good. Those of a job that ended
// more than ErrorRetention ago are deleted (in batches, a job may have
// 100 000); the job stays, its counters exact; a job that ended since
// keeps its errors.
func TestPruneImportErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{ErrorRetention: 48 * time.Hour})
		file := "umaAddress,platformUserId,userType\n$ok,p0,INDIVIDUAL\n"
		for i := 0; i < 1500; i++ {
			file += "$bad,p,ROBOT\n"
		}
		old := importFile(t, im, file)
		if old.Failed != 1500 || len(old.Errors) != users.MaxReportedImportErrors {
			t.Fatalf("old job %+v", old.Failed)
		}
		clock.Advance(47 * time.Hour)
		recent := importFile(t, im, "umaAddress,platformUserId,userType\n$bad2,p,ROBOT\n")
		if n, err := im.PruneErrors(ctx); err != nil || n != 0 {
			t.Fatalf("pruned %d before the retention: %v", n, err)
		}
		clock.Advance(2 * time.Hour)
		if n, err := im.PruneErrors(ctx); err != nil || n != 1500 {
			t.Fatalf("pruned %d, want 1500: %v", n, err)
		}
		if j, err := im.Get(ctx, old.ID); err != nil || len(j.Errors) != 0 || j.Failed != 1500 || j.Successful != 1 ||
			j.Status != users.ImportCompleted {
			t.Fatalf("the pruned job: %+v %v", j, err)
		}
		if j, err := im.Get(ctx, recent.ID); err != nil || len(j.Errors) != 1 {
			t.Fatalf("the recent job: %+v %v", j, err)
		}
	})
}
