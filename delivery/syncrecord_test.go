package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestSyncOutcomeCountedAsStored: a synchronous send whose record could not
// be written (here a trigger refuses its attempt row) is not counted as the
// answer it got: its delivery stays "sending", and the hourly pruning
// fails it ("interrupted"), as after a crash. It was counted
// sync_delivered at once, a delivery the log never showed and that ended
// failed; it is now counted sync_failed when pruning fails it, so the
// counter says what the log says, crashed sends included.
func TestSyncOutcomeCountedAsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		reg := prometheus.NewRegistry()
		s := newTestService(t, db, clock, func(o *Options) { o.Registerer = reg })
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, s, rc.URL)
		refuse, allow := refuseAttemptRows(t, db)
		refuse()
		resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
		if err != nil || !resp.Delivered() {
			t.Fatalf("send: %+v %v (the receiver's answer stands though its record failed)", resp, err)
		}
		allow()
		d, err := s.GetDelivery(ctx, resp.DeliveryID)
		if err != nil || d.Status != "sending" {
			t.Fatalf("delivery after its record failed: %+v %v, want sending", d, err)
		}
		if got := outcomeCounts(t, reg); got["sync_delivered"] != 0 || got["sync_failed"] != 0 {
			t.Fatalf("outcomes before pruning: %v; the send's record failed, nothing is stored of its end yet", got)
		}
		clock.Advance(2 * time.Hour)
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if d, err := s.GetDelivery(ctx, resp.DeliveryID); err != nil || d.Status != StatusFailed {
			t.Fatalf("delivery after pruning: %+v %v, want failed", d, err)
		}
		if got := outcomeCounts(t, reg); got["sync_delivered"] != 0 || got["sync_failed"] != 1 {
			t.Fatalf("outcomes after pruning: %v, want the send counted sync_failed, as stored", got)
		}
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if got := outcomeCounts(t, reg); got["sync_failed"] != 1 {
			t.Fatalf("outcomes after pruning again: %v, want it counted once", got)
		}
	})
}

// refuseAttemptRows returns functions that make db refuse, and allow again,
// new rows in webhook_attempts: a write that fails in the database itself.
func refuseAttemptRows(t *testing.T, db *store.DB) (refuse, allow func()) {
	t.Helper()
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := db.ExecContext(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	if db.Driver().Name() == "postgres" {
		exec(`CREATE FUNCTION refuse_attempt() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql`)
		return func() {
				exec(`CREATE TRIGGER refuse_attempt BEFORE INSERT ON webhook_attempts FOR EACH ROW EXECUTE FUNCTION refuse_attempt()`)
			}, func() {
				exec(`DROP TRIGGER refuse_attempt ON webhook_attempts`)
			}
	}
	return func() {
			exec(`CREATE TRIGGER refuse_attempt BEFORE INSERT ON webhook_attempts BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`)
		}, func() {
			exec(`DROP TRIGGER refuse_attempt`)
		}
}

// outcomeCounts returns vaspd_webhook_deliveries_total by outcome in reg.
func outcomeCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "vaspd_webhook_deliveries_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}
