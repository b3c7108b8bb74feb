package delivery

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// turn is step without testing.T, for use from several goroutines.
func turn(s *Service) (int, error) {
	w := newWorker(s)
	n, _, err := w.claim(context.Background())
	if err != nil {
		return 0, err
	}
	w.wg.Wait()
	close(w.results)
	var batch []finished
	for f := range w.results {
		batch = append(batch, f)
	}
	if len(batch) > 0 {
		if err := w.record(batch); err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestCrashMidAttemptRetriedWithSameWebhookID: a process that dies after
// POSTing but before recording leaves a lease; once it ends the delivery is
// attempted again, with the same webhookId, and then delivered once.
func TestCrashMidAttemptRetriedWithSameWebhookID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		mustEndpoint(t, s, rc.URL)
		id := enqueue(t, s, Event{Type: TypeTest})

		// The "crashed" process: claims and attempts, never records.
		w := newWorker(s)
		if n, _, err := w.claim(context.Background()); err != nil || n != 1 {
			t.Fatalf("claim: %d %v", n, err)
		}
		w.wg.Wait()

		// Another process (or the restarted one) sees nothing due while the lease holds …
		s2 := newTestService(t, db, clock)
		if n := step(t, s2); n != 0 {
			t.Fatalf("leased delivery attempted by another process (%d)", n)
		}
		// … and retries it once the lease (10 s timeout + 5 s margin) has ended.
		clock.Advance(15*time.Second + time.Millisecond)
		if n := step(t, s2); n != 1 {
			t.Fatalf("after the lease: %d attempts", n)
		}
		reqs := rc.requests()
		if len(reqs) != 2 || reqs[0].header.Get("webhook-id") != id || reqs[1].header.Get("webhook-id") != id {
			t.Fatalf("want the same webhookId twice, got %d requests", len(reqs))
		}
		if d := onlyDelivery(t, s2, id); d.Status != StatusDelivered {
			t.Fatalf("%+v", d)
		}
		// The dead process's late result cannot overwrite the new state.
		close(w.results)
		var late []finished
		for f := range w.results {
			late = append(late, f)
		}
		late[0].res.status = 500
		if err := w.record(late); err != nil {
			t.Fatal(err)
		}
		if d := onlyDelivery(t, s2, id); d.Status != StatusDelivered {
			t.Fatalf("stale lease overwrote the delivery: %+v", d)
		}
	})
}

// TestConcurrentProcessesNeverShareADelivery runs two services (two
// processes' worth of workers) on one database at once: every webhook is
// attempted exactly once.
func TestConcurrentProcessesNeverShareADelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(t0)
		more := func(o *Options) { o.PerEndpoint = 8; o.ClaimBatch = 8 }
		a, b := newTestService(t, db, clock, more), newTestService(t, db, clock, more)
		rcs := []*receiver{newReceiver(t), newReceiver(t)}
		for _, rc := range rcs {
			mustEndpoint(t, a, rc.URL)
		}
		const n = 120
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			for i := 0; i < n; i++ {
				if _, err := a.Enqueue(context.Background(), tx, Event{Type: TypeTest}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, s := range []*Service{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				idle := 0
				for i := 0; i < 500 && idle < 3; i++ {
					k, err := turn(s)
					if err != nil {
						errs <- err
						return
					}
					if k == 0 {
						idle++
					} else {
						idle = 0
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := 0; i < 50 && step(t, a) > 0; i++ { // whatever an idle exit left
		}
		for i, rc := range rcs {
			seen := map[string]int{}
			for _, r := range rc.requests() {
				seen[r.header.Get("webhook-id")]++
			}
			if len(seen) != n {
				t.Fatalf("receiver %d got %d distinct webhooks, want %d", i, len(seen), n)
			}
			for id, c := range seen {
				if c != 1 {
					t.Fatalf("receiver %d got %s %d times", i, id, c)
				}
			}
		}
	})
}

// TestPerEndpointConcurrencyLimit: an endpoint never has more than
// PerEndpoint attempts in flight, starts at one (slow start) and widens on
// success; another endpoint is served beside it.
func TestPerEndpointConcurrencyLimit(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.PerEndpoint = 2 })
	limited, other := newReceiver(t), newReceiver(t)
	var mu sync.Mutex
	inFlight, peak := 0, 0
	limited.set(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	mustEndpoint(t, s, limited.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeOutgoingPayment} })
	mustEndpoint(t, s, other.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
	for i := 0; i < 9; i++ {
		enqueue(t, s, Event{Type: TypeOutgoingPayment})
	}
	enqueue(t, s, Event{Type: TypeIncomingPayment})
	for i := 0; i < 10 && len(limited.requests()) < 9; i++ {
		step(t, s)
	}
	if len(limited.requests()) != 9 || len(other.requests()) != 1 {
		t.Fatalf("limited got %d of 9, other %d of 1", len(limited.requests()), len(other.requests()))
	}
	if peak != 2 {
		t.Fatalf("peak concurrency %d to the limited endpoint, want 2 (PerEndpoint)", peak)
	}
}

// TestSlowStartIsolatesDeadEndpoints: endpoints that hang get one attempt
// in flight each, not PerEndpoint, and MaxInFlight is shared fairly, so a
// healthy endpoint beside them is served at once.
func TestSlowStartIsolatesDeadEndpoints(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.MaxInFlight = 8 })
	hang := make(chan struct{})
	var dead []*receiver
	for i := 0; i < 6; i++ {
		rc := newReceiver(t)
		rc.set(func(w http.ResponseWriter, r *http.Request) { <-hang })
		mustEndpoint(t, s, rc.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
		dead = append(dead, rc)
	}
	for i := 0; i < 10; i++ {
		enqueue(t, s, Event{Type: TypeIncomingPayment}) // 10 for each dead endpoint
	}
	w := newWorker(s)
	drained := make(chan struct{})
	go func() { // the results the completer would record
		for range w.results {
		}
		close(drained)
	}()
	if _, _, err := w.claim(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	for _, n := range w.busy {
		if n != 1 {
			t.Errorf("a new endpoint has %d attempts in flight, want 1", n)
		}
	}
	busy := w.total
	w.mu.Unlock()
	if busy != 6 {
		t.Fatalf("%d attempts in flight, want one per dead endpoint (6)", busy)
	}
	healthy := newReceiver(t)
	mustEndpoint(t, s, healthy.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeOutgoingPayment} })
	for i := 0; i < 3; i++ {
		enqueue(t, s, Event{Type: TypeOutgoingPayment})
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(healthy.requests()) < 3 && time.Now().Before(deadline) {
		if _, _, err := w.claim(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := len(healthy.requests()); got != 3 {
		t.Fatalf("healthy endpoint got %d of 3 beside hanging ones", got)
	}
	// Each hanging endpoint's one attempt is in flight since the first
	// claim, but its request may not have reached the receiver yet on a
	// loaded machine: wait for it, then check that none got a second.
	for i, rc := range dead {
		for len(rc.requests()) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(rc.requests()); n != 1 {
			t.Errorf("hanging endpoint %d got %d requests, want 1", i, n)
		}
	}
	close(hang)
	w.wg.Wait()
	close(w.results)
	<-drained
}

// TestDeadLetterRedeliverAndReplay: a delivery that fails for its whole
// window is dead, visible, and comes back with its webhookId by redelivery
// or by a replay job over a time range.
func TestDeadLetterRedeliverAndReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock, func(o *Options) {
			o.Retry = RetryPolicy{Initial: 10 * time.Second, Window: 25 * time.Second}
		})
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		id := enqueue(t, s, Event{Type: TypeTest})
		for i := 0; i < 5; i++ {
			step(t, s)
			d := onlyDelivery(t, s, id)
			if d.Status != StatusPending {
				break
			}
			e, _ := s.GetEndpoint(ctx, ep.ID)
			clock.Set(maxTime(d.NextAttemptAt, e.BackoffUntil))
		}
		d := onlyDelivery(t, s, id)
		if d.Status != StatusDead || d.Attempts != 2 { // at t0 and t0+10 s; the next, t0+30 s, is past the window
			t.Fatalf("not dead-lettered: %+v", d)
		}
		dead, err := s.ListDeliveries(ctx, DeliveryFilter{Status: StatusDead}, "", 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters: %v %d", err, len(dead))
		}

		rc.status(200)
		clock.Advance(time.Minute) // past the endpoint's back-off
		if _, err := s.Redeliver(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("redeliver: %d attempts", n)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered || d.Attempts != 3 {
			t.Fatalf("after redelivery %+v", d)
		}
		if _, err := s.Redeliver(ctx, vaspd.NewID(vaspd.IDDelivery)); vaspd.AsError(err).Status != 404 {
			t.Fatalf("unknown delivery: %v", err)
		}

		// Replay: three more deliveries an hour apart; replay the middle two hours.
		var ids []string
		for i := 0; i < 3; i++ {
			clock.Advance(time.Hour)
			ids = append(ids, enqueue(t, s, Event{Type: TypeTest}))
			step(t, s)
		}
		before := len(rc.requests())
		from := clock.Now().Add(-150 * time.Minute)
		job, err := s.StartReplay(ctx, ReplayParams{EndpointID: ep.ID, Since: from, Until: clock.Now().Add(-30 * time.Minute), Status: StatusDelivered})
		if err != nil || job.Status != "pending" {
			t.Fatalf("start replay: %v %+v", err, job)
		}
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		job, err = s.GetJob(ctx, job.ID)
		if err != nil || job.Status != "completed" || job.Processed != 2 {
			t.Fatalf("job: %v %+v", err, job)
		}
		if n := step(t, s); n != 2 {
			t.Fatalf("replayed %d, want 2", n)
		}
		got := map[string]bool{}
		for _, r := range rc.requests()[before:] {
			got[r.header.Get("webhook-id")] = true
		}
		if !got[ids[0]] || !got[ids[1]] || got[ids[2]] {
			t.Fatalf("replayed %v, want %s and %s", got, ids[0], ids[1])
		}
		for _, bad := range []ReplayParams{
			{EndpointID: ep.ID},
			{EndpointID: ep.ID, Since: t0, Until: t0},
			{EndpointID: ep.ID, Since: t0, Until: t0.Add(time.Hour), Status: "pending"},
			{Since: t0, Until: t0.Add(time.Hour)},
		} {
			if _, err := s.StartReplay(ctx, bad); vaspd.AsError(err).Status != 400 {
				t.Errorf("%+v: %v", bad, err)
			}
		}
		if _, err := s.StartReplay(ctx, ReplayParams{EndpointID: vaspd.NewID(vaspd.IDEndpoint), Since: t0, Until: t0.Add(time.Hour)}); vaspd.AsError(err).Status != 404 {
			t.Errorf("unknown endpoint: %v", err)
		}
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestRetentionPrune: finished deliveries, their attempts and events go
// after the retention period; pending ones stay whatever their age.
func TestRetentionPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock, func(o *Options) { o.Retention = 24 * time.Hour })
		ok, bad := newReceiver(t), newReceiver(t)
		bad.status(500)
		mustEndpoint(t, s, ok.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeOutgoingPayment} })
		mustEndpoint(t, s, bad.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
		done := enqueue(t, s, Event{Type: TypeOutgoingPayment})
		waiting := enqueue(t, s, Event{Type: TypeIncomingPayment})
		step(t, s)
		if n, err := s.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("pruned young rows: %d %v", n, err)
		}
		clock.Advance(25 * time.Hour)
		n, err := s.Prune(ctx)
		if err != nil || n != 3 { // the delivered delivery, its attempt, its event
			t.Fatalf("prune: %d %v", n, err)
		}
		if ds, _ := s.ListDeliveries(ctx, DeliveryFilter{WebhookID: done}, "", 10); len(ds) != 0 {
			t.Fatal("delivered webhook kept past retention")
		}
		d := onlyDelivery(t, s, waiting)
		if d.Status != StatusPending || len(d.AttemptLog) != 1 || len(d.Payload) == 0 {
			t.Fatalf("pending delivery pruned: %+v", d)
		}
	})
}

func TestDeleteEndpointDeadLettersItsDeliveries(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	ep, _ := mustEndpoint(t, s, "https://example.com/hook")
	id := enqueue(t, s, Event{Type: TypeTest})
	if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if d := onlyDelivery(t, s, id); d.Status != StatusDead || d.LastError != "endpoint deleted" {
		t.Fatalf("%+v", d)
	}
	if _, err := s.GetEndpoint(ctx, ep.ID); vaspd.AsError(err).Code != vaspd.CodeWebhookEndpointNotFound {
		t.Fatalf("deleted endpoint: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	reg := prometheus.NewRegistry()
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock, func(o *Options) { o.Registerer = reg })
	ok, bad := newReceiver(t), newReceiver(t)
	bad.status(503)
	mustEndpoint(t, s, ok.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeOutgoingPayment} })
	badEP, _ := mustEndpoint(t, s, bad.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
	enqueue(t, s, Event{Type: TypeOutgoingPayment})
	enqueue(t, s, Event{Type: TypeIncomingPayment})
	step(t, s)
	clock.Advance(time.Minute)
	s.refreshGauges(ctx)

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"vaspd_webhook_deliveries_total/delivered":          1,
		"vaspd_webhook_deliveries_total/retry":              1,
		"vaspd_webhook_attempt_duration_seconds/2xx":        1,
		"vaspd_webhook_attempt_duration_seconds/5xx":        1,
		"vaspd_webhook_backlog":                             1,
		"vaspd_webhook_oldest_pending_seconds":              60,
		"vaspd_webhook_endpoint_failure_streak/" + badEP.ID: 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// TestStreakGaugeFollowsTheDatabase: the per-endpoint failure streak is
// what the endpoint row says, refreshed with the queue gauges: a deleted
// endpoint's series goes (it stayed at its last streak for ever, an alert
// that never cleared, and one series more per endpoint ever deleted), and a
// streak another process ended, or that re-enabling cleared, reads 0 here
// too (it stayed at this process's last count).
func TestStreakGaugeFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	reg := prometheus.NewRegistry()
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock, func(o *Options) { o.Registerer = reg })
	other := newTestService(t, db, clock) // another process, same database
	bad, gone := newReceiver(t), newReceiver(t)
	bad.status(500)
	gone.status(500)
	badEP, _ := mustEndpoint(t, s, bad.URL)
	goneEP, _ := mustEndpoint(t, s, gone.URL)
	enqueue(t, s, Event{Type: TypeTest})
	step(t, s)
	streaks := func() map[string]float64 {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range fams {
			if f.GetName() == "vaspd_webhook_endpoint_failure_streak" {
				for _, m := range f.GetMetric() {
					out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
		return out
	}
	if got := streaks(); got[badEP.ID] != 1 || got[goneEP.ID] != 1 {
		t.Fatalf("after a failure: %v", got)
	}
	if err := s.DeleteEndpoint(ctx, goneEP.ID); err != nil {
		t.Fatal(err)
	}
	bad.status(200)
	clock.Advance(time.Hour)
	if n := step(t, other); n != 1 {
		t.Fatalf("other process: %d attempts", n)
	}
	s.refreshGauges(ctx)
	got := streaks()
	if _, ok := got[goneEP.ID]; ok || got[badEP.ID] != 0 || len(got) != 1 {
		t.Fatalf("after a deletion and another process's success: %v", got)
	}
}

// TestRunDeliversAndStops drives the real worker loop with the system clock.
func TestRunDeliversAndStops(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.SystemClock{})
	rc := newReceiver(t)
	mustEndpoint(t, s, rc.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, enqueue(t, s, Event{Type: TypeTest}))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.requests()) < len(ids) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not stop")
	}
	for _, id := range ids {
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
			t.Fatalf("%s: %+v", id, d)
		}
	}
}

// TestReenabledEndpointGetsFreshWindow: deliveries that waited days for a
// 410'd endpoint are not dead-lettered on their first failure after it is
// re-enabled: the disabled time does not count against their window.
func TestReenabledEndpointGetsFreshWindow(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	rc := newReceiver(t)
	rc.status(410)
	ep, _ := mustEndpoint(t, s, rc.URL)
	id := enqueue(t, s, Event{Type: TypeTest})
	step(t, s)
	clock.Advance(4 * 24 * time.Hour)
	if d := onlyDelivery(t, s, id); d.Status != StatusPending {
		t.Fatalf("waiting delivery: %+v", d)
	}
	rc.status(500)
	if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if n := step(t, s); n != 1 {
		t.Fatalf("after re-enabling: %d attempts", n)
	}
	// The schedule starts again with the window: 10 s, though it is the
	// delivery's second attempt.
	if d := onlyDelivery(t, s, id); d.Status != StatusPending || !d.NextAttemptAt.Equal(clock.Now().Add(10*time.Second)) {
		t.Fatalf("after a failure on re-enabling: %+v", d)
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	rc := newReceiver(t)
	url := rc.URL
	rc.Close() // nothing listens there any more
	mustEndpoint(t, s, url)
	id := enqueue(t, s, Event{Type: TypeTest})
	if n := step(t, s); n != 1 {
		t.Fatalf("attempts %d", n)
	}
	d := onlyDelivery(t, s, id)
	if d.Status != StatusPending || d.LastStatus != 0 || d.LastError == "" || !d.NextAttemptAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("%+v", d)
	}
}

// TestExpiredLeaseDoesNotBlockResume: a delivery whose claim died with its
// process (the lease token stays, its lease has ended) is not in flight:
// re-enabling its endpoint gives it a fresh retry window like the others.
func TestExpiredLeaseDoesNotBlockResume(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		id := enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 1 { // first attempt at t0
			t.Fatalf("%d attempts", n)
		}
		clock.Advance(time.Minute)
		// A process claims and attempts it, then dies before recording.
		w := newWorker(s)
		if n, _, err := w.claim(ctx); err != nil || n != 1 {
			t.Fatalf("claim: %d %v", n, err)
		}
		w.wg.Wait()
		if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(4 * 24 * time.Hour)
		if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("after re-enabling: %d attempts", n)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusPending || !d.FirstAttemptAt.Equal(clock.Now()) {
			t.Fatalf("no fresh retry window after re-enabling: %+v", d)
		}
	})
}
