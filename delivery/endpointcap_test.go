package delivery

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func wantCapped(t *testing.T, err error, max int) {
	t.Helper()
	e := vaspd.AsError(err)
	if err == nil || e.Status != http.StatusConflict || e.Code != vaspd.CodeConflict || e.Details["maxEndpoints"] != max {
		t.Fatalf("got %v (%d %s %v), want 409 CONFLICT with maxEndpoints %d", err, e.Status, e.Code, e.Details, max)
	}
}

// Options.MaxEndpoints caps the live endpoints: each one fans every event
// out, so without a cap a MANAGE token could multiply every webhook
// without limit. Disabled endpoints count (they may be enabled again),
// deleted ones do not; the primary endpoint (PATCH /config) counts and is
// capped as the others are.
func TestEndpointCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.MaxEndpoints = 3 })
		rc := newReceiver(t)
		a, _ := mustEndpoint(t, s, rc.URL)
		mustEndpoint(t, s, rc.URL, func(in *EndpointInput) { in.Enabled = ptr(false) })
		if _, _, _, err := s.ConfigurePrimary(ctx, rc.URL); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: &rc.URL})
		wantCapped(t, err, 3)
		if err := s.DeleteEndpoint(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		b, _ := mustEndpoint(t, s, rc.URL)
		_, _, err = s.CreateEndpoint(ctx, EndpointInput{URL: &rc.URL})
		wantCapped(t, err, 3)

		// The primary is capped too: removed, it cannot come back while
		// three others are live.
		if _, _, _, err := s.ConfigurePrimary(ctx, ""); err != nil {
			t.Fatal(err)
		}
		mustEndpoint(t, s, rc.URL)
		_, _, _, err = s.ConfigurePrimary(ctx, rc.URL)
		wantCapped(t, err, 3)
		if err := s.DeleteEndpoint(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.ConfigurePrimary(ctx, rc.URL); err != nil {
			t.Fatalf("primary under the cap: %v", err)
		}
		if n := liveEndpoints(t, db); n != 3 {
			t.Fatalf("%d live endpoints, want 3", n)
		}
	})
}

// The default allows the webhook benchmark's 101 endpoints (bench/webhooks).
func TestEndpointCapDefault(t *testing.T) {
	s := newTestService(t, storetest.SQLite(t), vaspd.NewFakeClock(t0))
	if s.opt.MaxEndpoints != DefaultMaxEndpoints || DefaultMaxEndpoints < 101 {
		t.Fatalf("MaxEndpoints %d by default (DefaultMaxEndpoints %d), want at least 101", s.opt.MaxEndpoints, DefaultMaxEndpoints)
	}
}

// Two creates at the cap on PostgreSQL, in two transactions at once: only
// one wins. The second is made to run its check while the first, which
// has made its own and inserted, has not committed: counting without a
// lock, it would see the cap not reached and insert too.
func TestEndpointCapConcurrent(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.MaxEndpoints = 2 })
	rc := newReceiver(t)
	mustEndpoint(t, s, rc.URL)

	second := make(chan error, 1)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if _, _, err := s.createEndpoint(ctx, tx, EndpointInput{URL: &rc.URL}, false); err != nil {
			return err
		}
		pidc := make(chan int, 1)
		go func() {
			second <- db.InTx(ctx, func(tx2 *store.Tx) error {
				var pid int
				if err := tx2.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
					return err
				}
				select {
				case pidc <- pid:
				default:
				}
				_, _, err := s.createEndpoint(ctx, tx2, EndpointInput{URL: &rc.URL}, false)
				return err
			})
		}()
		p := <-pidc
		// Commit once the second waits for a lock this one holds, or
		// after a while if it never does (it then saw no lock to wait for).
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var waiting bool
			if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)`, p).
				Scan(&waiting); err != nil {
				return err
			}
			if waiting {
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCapped(t, <-second, 2)
	if n := liveEndpoints(t, db); n != 2 {
		t.Fatalf("%d live endpoints, want 2", n)
	}
}

func liveEndpoints(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM webhook_endpoints WHERE deleted_at = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
