package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestPruneCountsInterruptedSendOnce: two processes pruning at once on
// PostgreSQL, the second blocked on the row the first is failing. Once the
// first commits, PostgreSQL reads the row again for the second, testing
// only the outer WHERE: an IN list made before would still name it, and
// the second would fail it again and count it again (sync_failed twice
// for one send). SQLite runs one writer at a time, so this is PostgreSQL's.
func TestPruneCountsInterruptedSendOnce(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	clock := vaspd.NewFakeClock(t0)
	reg := prometheus.NewRegistry()
	s := newTestService(t, db, clock, func(o *Options) { o.Registerer = reg })
	rc := newReceiver(t)
	ep, _ := mustEndpoint(t, s, rc.URL)
	refuse, allow := refuseAttemptRows(t, db)
	refuse()
	resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
	if err != nil {
		t.Fatal(err)
	}
	allow()
	clock.Advance(2 * time.Hour)

	// The other process's prune, its update made and not yet committed.
	other, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'failed', finished_at = 1 WHERE id = $1`, resp.DeliveryID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Prune(ctx)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // Prune's update waits for the row
	select {
	case err := <-done:
		t.Fatalf("prune did not wait for the row the other process holds: %v", err)
	default:
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := outcomeCounts(t, reg); got["sync_failed"] != 0 {
		t.Fatalf("outcomes: %v; the other process failed the send (and counted it), this one must not count it again", got)
	}
	var finished int64
	if err := db.QueryRowContext(ctx, `SELECT finished_at FROM webhook_deliveries WHERE id = $1`, resp.DeliveryID).Scan(&finished); err != nil || finished != 1 {
		t.Fatalf("finished_at %d %v: the other process's end was written over", finished, err)
	}
}
