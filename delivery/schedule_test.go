package delivery

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func TestRetryPolicyDelays(t *testing.T) {
	var p RetryPolicy
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}
	for i, w := range want {
		if got := p.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
	// Jitter stays within ±10 %.
	for _, r := range []float64{0, 0.25, 0.999999} {
		at, dead := p.next(1, t0, t0, 0, func() float64 { return r })
		d := at.Sub(t0)
		if dead || d < 9*time.Second || d > 11*time.Second {
			t.Errorf("rnd %v: delay %s dead %v", r, d, dead)
		}
	}
	// The window: no retry scheduled past 72 h after the first attempt.
	if _, dead := p.next(50, t0, t0.Add(71*time.Hour+30*time.Minute), 0, func() float64 { return 0.5 }); !dead {
		t.Error("retry beyond the window was scheduled")
	}
	if _, dead := p.next(50, t0, t0.Add(70*time.Hour), 0, func() float64 { return 0.5 }); dead {
		t.Error("retry inside the window refused")
	}
	// Configurable.
	q := RetryPolicy{Initial: time.Second, Max: 4 * time.Second, Window: time.Minute, Jitter: -1}
	if q.Delay(1) != time.Second || q.Delay(5) != 4*time.Second {
		t.Errorf("custom policy: %s %s", q.Delay(1), q.Delay(5))
	}
}

// TestScheduleEndToEnd drives a delivery to a receiver that always fails
// through its whole life on a fake clock: the attempts follow the schedule
// and the delivery is dead-lettered 3 days after its first attempt.
func TestScheduleEndToEnd(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	rc := newReceiver(t)
	rc.status(500)
	ep, _ := mustEndpoint(t, s, rc.URL)
	id := enqueue(t, s, Event{Type: TypeTest})

	var gaps []time.Duration
	last := t0
	for i := 0; i < 200; i++ {
		if n := step(t, s); n != 1 {
			t.Fatalf("turn %d: %d attempts", i, n)
		}
		d := onlyDelivery(t, s, id)
		if d.Status == StatusDead {
			break
		}
		if d.Status != StatusPending {
			t.Fatalf("status %s", d.Status)
		}
		gaps = append(gaps, d.NextAttemptAt.Sub(clock.Now()))
		// The endpoint back-off must not push attempts beyond the schedule.
		e, _ := s.GetEndpoint(ctx, ep.ID)
		next := d.NextAttemptAt
		if e.BackoffUntil.After(next) {
			next = e.BackoffUntil
		}
		last = next
		clock.Set(next)
	}
	d := onlyDelivery(t, s, id)
	if d.Status != StatusDead {
		t.Fatalf("never dead-lettered: %+v", d)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1280, 2560}
	for i, w := range want {
		if gaps[i] != w*time.Second {
			t.Fatalf("gap %d = %s, want %ds (gaps %v)", i, gaps[i], w, gaps)
		}
	}
	for _, g := range gaps[len(want):] {
		if g != time.Hour {
			t.Fatalf("capped gap %s, want 1h", g)
		}
	}
	if span := last.Sub(t0); span > 72*time.Hour || span < 71*time.Hour {
		t.Fatalf("last attempt %s after the first", span)
	}
	if int(d.Attempts) != len(gaps)+1 || len(d.AttemptLog) != len(gaps)+1 {
		t.Fatalf("attempts %d, log %d, gaps %d", d.Attempts, len(d.AttemptLog), len(gaps))
	}
	if len(rc.requests()) != int(d.Attempts) {
		t.Fatalf("receiver saw %d, delivery says %d", len(rc.requests()), d.Attempts)
	}
}

// TestFailingEndpointBackedOff: an endpoint this process does not know yet
// gets one attempt at a time (slow start); while it fails it is left alone
// for a growing back-off and probed one attempt at a time; a success
// restores its concurrency. A healthy endpoint beside it is not held up.
func TestFailingEndpointBackedOff(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	bad, good := newReceiver(t), newReceiver(t)
	bad.status(503)
	badEP, _ := mustEndpoint(t, s, bad.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeOutgoingPayment} })
	mustEndpoint(t, s, good.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
	for i := 0; i < 5; i++ {
		enqueue(t, s, Event{Type: TypeOutgoingPayment})
		enqueue(t, s, Event{Type: TypeIncomingPayment})
	}
	step(t, s)
	if n := len(bad.requests()); n != 1 {
		t.Fatalf("first turn: %d attempts to the failing endpoint, want 1", n)
	}
	for i := 0; i < 5 && len(good.requests()) < 5; i++ {
		step(t, s)
	}
	if n := len(good.requests()); n != 5 {
		t.Fatalf("healthy endpoint got %d of 5 beside a failing one", n)
	}
	if n := len(bad.requests()); n != 1 {
		t.Fatalf("failing endpoint attempted %d times before its back-off ended", n)
	}
	e, _ := s.GetEndpoint(ctx, badEP.ID)
	if e.FailureStreak != 1 || !e.BackoffUntil.After(clock.Now()) {
		t.Fatalf("streak %d backoff %s", e.FailureStreak, e.BackoffUntil)
	}
	// Due again, but the endpoint is in back-off: no attempt.
	clock.Set(e.BackoffUntil.Add(-time.Millisecond))
	step(t, s)
	if n := len(bad.requests()); n != 1 {
		t.Fatalf("backed-off endpoint attempted %d times", n)
	}
	clock.Set(e.BackoffUntil.Add(11 * time.Second))
	step(t, s)
	if n := len(bad.requests()); n != 2 {
		t.Fatalf("failing endpoint probed with %d attempts, want 1", n-1)
	}
	bad.status(200)
	e, _ = s.GetEndpoint(ctx, badEP.ID)
	clock.Set(e.BackoffUntil.Add(time.Hour))
	step(t, s)
	if n := len(bad.requests()); n != 3 {
		t.Fatalf("probe after back-off: %d attempts, want 1", n-2)
	}
	step(t, s)
	if n := len(bad.requests()); n != 7 {
		t.Fatalf("after recovery %d attempts in all, want the remaining 4 in one turn", n)
	}
	if e, _ := s.GetEndpoint(ctx, badEP.ID); e.FailureStreak != 0 {
		t.Fatalf("streak after success %d", e.FailureStreak)
	}
}

// TestTimeoutStormIsNotProbedAgainAtOnce covers what keeps a hundred
// endpoints that time out together from being probed again together: an
// endpoint whose failure this process has seen but not yet recorded is not
// claimed for, and its back-off counts from when the failure was seen (the
// end of a slow attempt), not from when the attempt began.
func TestTimeoutStormIsNotProbedAgainAtOnce(t *testing.T) {
	ctx := context.Background()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		slow := newReceiver(t)
		const took = 300 * time.Millisecond
		slow.set(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(took)
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		ep, _ := mustEndpoint(t, s, slow.URL)
		for i := 0; i < 10; i++ {
			enqueue(t, s, Event{Type: TypeOutgoingPayment})
		}
		w := newWorker(s)
		claimAndWait := func() {
			t.Helper()
			if _, _, err := w.claim(ctx); err != nil {
				t.Fatal(err)
			}
			w.wg.Wait()
		}
		claimAndWait()
		if n := len(slow.requests()); n != 1 {
			t.Fatalf("first claim: %d attempts, want 1 (slow start)", n)
		}
		// Failed, not recorded yet: due rows remain, but no claim for it.
		claimAndWait()
		if n := len(slow.requests()); n != 1 {
			t.Fatalf("probed again (%d attempts) before its failure was recorded", n)
		}
		var batch []finished
		for len(w.results) > 0 {
			batch = append(batch, <-w.results)
		}
		if err := w.record(batch); err != nil {
			t.Fatal(err)
		}
		e, err := s.GetEndpoint(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		// No jitter in tests: exactly 1 s after the attempt ended.
		if min := t0.Add(took + time.Second); e.BackoffUntil.Before(min) {
			t.Fatalf("back-off until %s, want at least %s (1 s after the %s attempt ended)", e.BackoffUntil, min, took)
		}
		claimAndWait()
		if n := len(slow.requests()); n != 1 {
			t.Fatalf("attempted during its back-off (%d attempts)", n)
		}
		clock.Set(e.BackoffUntil)
		claimAndWait()
		if n := len(slow.requests()); n != 2 {
			t.Fatalf("after the back-off: %d attempts, want the probe", n)
		}
	})
}

// TestRecordChunk: successes are recorded many per transaction, failures
// (which also hand rows back and update their endpoint) fewer, and every
// chunk makes progress.
func TestRecordChunk(t *testing.T) {
	ok := finished{res: attemptResult{status: 200}}
	fail := finished{res: attemptResult{status: 0}, release: make([]claimed, 3)}
	batch := func(f finished, n int) []finished {
		b := make([]finished, n)
		for i := range b {
			b[i] = f
		}
		return b
	}
	for _, c := range []struct {
		name  string
		batch []finished
		want  int
	}{
		{"512 successes", batch(ok, 512), recordCost},
		{"100 timeouts", batch(fail, 100), recordCost / 7},
		{"a few", batch(fail, 3), 3},
		{"one costly failure", []finished{{release: make([]claimed, 500)}}, 1},
	} {
		if got := recordChunk(c.batch); got != c.want {
			t.Errorf("%s: chunk of %d, want %d", c.name, got, c.want)
		}
	}
}

// TestRetryAfterBounds: a receiver's Retry-After, however hostile, pushes
// the next attempt to at least the time it names, bounded; what is not a
// Retry-After value (garbage, a date or a number in the past) is ignored.
func TestRetryAfterBounds(t *testing.T) {
	const limit = time.Hour
	cases := []struct {
		value string
		want  time.Duration
	}{
		{"120", 2 * time.Minute},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"3599", 3599 * time.Second},
		{"3601", limit},
		{"999999", limit},
		// Valid delta-seconds (RFC 9110 §10.2.3: 1*DIGIT) too large for an
		// int64: far in the future, so bounded, not ignored.
		{"99999999999999999999", limit},
		{"-99999999999999999999", 0},
		{"1.5", 0},
		{"soon", 0},
		{t0.Add(30 * time.Minute).Format(http.TimeFormat), 30 * time.Minute},
		{t0.Add(48 * time.Hour).Format(http.TimeFormat), limit},
		{t0.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		h := http.Header{"Retry-After": {tc.value}}
		for _, st := range []int{429, 503} {
			if got := retryAfter(st, h, t0, limit); got != tc.want {
				t.Errorf("%d Retry-After %q: %s, want %s", st, tc.value, got, tc.want)
			}
		}
		if got := retryAfter(500, h, t0, limit); got != 0 {
			t.Errorf("500 Retry-After %q: %s, want 0", tc.value, got)
		}
	}
}

// TestRetryPolicyRefusesNonsense: a policy whose delays could be negative
// (jitter of 100 % or more: immediate retries), whose cap is below its first
// delay, or with negative durations is refused by New, naming the field;
// zero values still mean the defaults, and a negative jitter still means
// none.
func TestRetryPolicyRefusesNonsense(t *testing.T) {
	db := storetest.SQLite(t)
	for _, c := range []struct {
		p    RetryPolicy
		want string // "" = accepted
	}{
		{RetryPolicy{}, ""},
		{RetryPolicy{Jitter: -1}, ""},
		{RetryPolicy{Jitter: 0.5}, ""},
		{RetryPolicy{Initial: time.Hour}, ""},                             // equal to the default cap
		{RetryPolicy{Initial: time.Second, Max: time.Second}, ""},         // no doubling at all
		{RetryPolicy{Initial: 10 * time.Second, Window: time.Second}, ""}, // no retry at all
		{RetryPolicy{Jitter: 1}, "Retry.Jitter"},
		{RetryPolicy{Jitter: 1.5}, "Retry.Jitter"},
		{RetryPolicy{Jitter: math.NaN()}, "Retry.Jitter"},
		{RetryPolicy{Jitter: math.Inf(-1)}, "Retry.Jitter"},
		{RetryPolicy{Initial: -time.Second}, "Retry.Initial"},
		{RetryPolicy{Max: -time.Second}, "Retry.Max"},
		{RetryPolicy{Window: -time.Hour}, "Retry.Window"},
		{RetryPolicy{MaxRetryAfter: -time.Second}, "Retry.MaxRetryAfter"},
		{RetryPolicy{Initial: time.Minute, Max: time.Second}, "Retry.Max"},
		{RetryPolicy{Initial: 2 * time.Hour}, "Retry.Max"}, // above the default cap
	} {
		err := c.p.Validate()
		_, nerr := New(db, Options{Retry: c.p})
		switch {
		case c.want == "" && (err != nil || nerr != nil):
			t.Errorf("%+v refused: %v / %v", c.p, err, nerr)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: Validate = %v, want an error naming %s", c.p, err, c.want)
		case c.want != "" && (nerr == nil || !strings.Contains(nerr.Error(), c.want)):
			t.Errorf("%+v: New = %v, want an error naming %s", c.p, nerr, c.want)
		}
	}
	// Whatever rnd says, an accepted policy's delays are never negative.
	p := RetryPolicy{Jitter: 0.99}
	for _, r := range []float64{0, 0.5, 0.999999} {
		if at, dead := p.next(1, t0, t0, 0, func() float64 { return r }); dead || at.Before(t0) {
			t.Errorf("jitter 0.99, rnd %v: next at %s (dead %v), before now", r, at, dead)
		}
	}
}

// TestNoAttemptAfterTheWindow: no attempt starts after first attempt +
// window. A delivery whose retry falls inside its window, but whose endpoint
// is then backed off beyond it (another delivery's 503 Retry-After: 1 h), or
// whose process was down past it, is dead-lettered when it would have been
// claimed, without an attempt — visible, and replayable with a fresh window.
func TestNoAttemptAfterTheWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock, func(o *Options) {
			o.Retry = RetryPolicy{Initial: 10 * time.Second, Window: time.Minute}
		})
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		id1 := enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		d1 := onlyDelivery(t, s, id1)
		if d1.Status != StatusPending || !d1.NextAttemptAt.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("after the first failure: %+v", d1)
		}
		// Another delivery to the endpoint is throttled for an hour.
		clock.Set(t0.Add(9 * time.Second))
		rc.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		id2 := enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		if d2 := onlyDelivery(t, s, id2); d2.Status != StatusDead || d2.Attempts != 1 {
			// Its Retry-After reaches past its window: dead at once.
			t.Fatalf("throttled delivery: %+v", d2)
		}
		e, _ := s.GetEndpoint(ctx, ep.ID)
		if end := t0.Add(time.Minute); !e.BackoffUntil.After(end) {
			t.Fatalf("endpoint backed off until %s, not past the first delivery's window end %s", e.BackoffUntil, end)
		}
		rc.status(200)
		clock.Set(e.BackoffUntil)
		step(t, s)
		if n := len(rc.requests()); n != 2 {
			t.Fatalf("%d attempts in all, want 2: the first delivery was attempted %s after its window ended",
				n, clock.Now().Sub(t0.Add(time.Minute)))
		}
		d1 = onlyDelivery(t, s, id1)
		if d1.Status != StatusDead || d1.Attempts != 1 || !strings.Contains(d1.LastError, "window") ||
			!strings.Contains(d1.LastError, "HTTP 500") {
			t.Fatalf("past its window: %+v", d1)
		}
		dead, err := s.ListDeliveries(ctx, DeliveryFilter{Status: StatusDead}, "", 10)
		if err != nil || len(dead) != 2 {
			t.Fatalf("dead letters: %v %d", err, len(dead))
		}
		// Replayable: a fresh window.
		if _, err := s.Redeliver(ctx, d1.ID); err != nil {
			t.Fatal(err)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("redelivery: %d attempts", n)
		}
		if d1 = onlyDelivery(t, s, id1); d1.Status != StatusDelivered || d1.Attempts != 2 {
			t.Fatalf("after redelivery: %+v", d1)
		}

		// A process down past the window: the retry is not made either.
		rc.status(500)
		id3 := enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		clock.Advance(2 * time.Minute)
		rc.status(200)
		if n := step(t, s); n != 0 {
			t.Fatalf("%d attempts after the window", n)
		}
		if d3 := onlyDelivery(t, s, id3); d3.Status != StatusDead || d3.Attempts != 1 {
			t.Fatalf("after the window: %+v", d3)
		}
	})
}

// TestClaimedRowNotStartedAfterItsWindow: a claimed delivery that waits in
// memory (for a slot) until its window has ended is handed back, not
// attempted; the next claim dead-letters it.
func TestClaimedRowNotStartedAfterItsWindow(t *testing.T) {
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock, func(o *Options) {
		o.Retry = RetryPolicy{Initial: 10 * time.Second, Window: time.Minute}
	})
	rc := newReceiver(t)
	ep, secret := mustEndpoint(t, s, rc.URL)
	w := newWorker(s)
	tg := &target{id: ep.ID, url: rc.URL, timeout: time.Second, secret: secret}
	gen := s.epGen.Load() // the rows' reading: after the endpoint's creation
	now := t0.Add(time.Minute + time.Millisecond)
	clock.Set(now)
	w.mu.Lock()
	w.queue[ep.ID] = []claimed{
		{id: "WebhookDelivery:late", eventID: "WebhookDelivery:late", token: "tok", attempts: 1, first: t0, leaseEnd: now.Add(time.Hour), t: tg, gen: gen},
		{id: "WebhookDelivery:fresh", eventID: "WebhookDelivery:fresh", token: "tok", attempts: 1, first: t0.Add(time.Second), leaseEnd: now.Add(time.Hour), t: tg, gen: gen},
	}
	w.pump(ep.ID)
	w.pump(ep.ID)
	w.mu.Unlock()
	w.wg.Wait()
	if got := rc.requests(); len(got) != 1 || got[0].header.Get("webhook-id") != "WebhookDelivery:fresh" {
		t.Fatalf("%d attempts, want 1 (the delivery whose window has not ended)", len(got))
	}
}

// TestJitterStaysUnderTheCap: "each delay capped at 1 h" holds after
// jitter: a capped delay is jittered downwards only (54–60 min), while the
// delays below the cap keep their ±10 %. A receiver's Retry-After, bounded
// on its own, may still ask for longer than the cap.
func TestJitterStaysUnderTheCap(t *testing.T) {
	var p RetryPolicy
	for _, c := range []struct {
		n        int
		r        float64
		min, max time.Duration
	}{
		{20, 0.999999, 59*time.Minute + 59*time.Second, time.Hour},
		{20, 0.5, time.Hour, time.Hour},
		{20, 0, 54 * time.Minute, 54 * time.Minute},
		{9, 0.999999, 2816*time.Second - time.Second, 2816 * time.Second}, // 2560 s + 10 %: below the cap
		{1, 0, 9 * time.Second, 9 * time.Second},
	} {
		at, dead := p.next(c.n, t0, t0, 0, func() float64 { return c.r })
		if d := at.Sub(t0); dead || d < c.min || d > c.max {
			t.Errorf("attempt %d, rnd %v: delay %s (dead %v), want %s–%s", c.n, c.r, d, dead, c.min, c.max)
		}
	}
	// Initial = Max: every delay is at most the cap.
	q := RetryPolicy{Initial: time.Second, Max: time.Second}
	if at, _ := q.next(1, t0, t0, 0, func() float64 { return 0.999999 }); at.Sub(t0) > time.Second {
		t.Errorf("Initial = Max = 1s: delay %s", at.Sub(t0))
	}
	// Retry-After above the cap is honoured (it is bounded by MaxRetryAfter).
	r := RetryPolicy{Max: time.Minute}
	if at, _ := r.next(20, t0, t0, 10*time.Minute, func() float64 { return 0.999999 }); at.Sub(t0) != 10*time.Minute {
		t.Errorf("Retry-After 10m with a 1m cap: delay %s", at.Sub(t0))
	}
}
