package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Two processes on one database, for the failure-streak tests
// (streakshared_test.go, streakreset_test.go): what each test shares is
// here, so that each says only what differs.

// twoProcs is a Service (this process), another on the same database and
// clock, a receiver and an endpoint at it.
type twoProcs struct {
	ctx       context.Context
	clock     *vaspd.FakeClock
	s, other  *Service
	rc        *receiver
	ep        Endpoint
	mustClaim func(w *worker, who string)
}

// newTwoProcs sets up twoProcs; mod applies to this process's Service only.
func newTwoProcs(t *testing.T, db *store.DB, mod ...func(*Options)) *twoProcs {
	t.Helper()
	p := &twoProcs{ctx: context.Background(), clock: vaspd.NewFakeClock(t0)}
	p.s = newTestService(t, db, p.clock, mod...)
	p.other = newTestService(t, db, p.clock)
	p.rc = newReceiver(t)
	p.ep, _ = mustEndpoint(t, p.s, p.rc.URL)
	p.mustClaim = func(w *worker, who string) {
		t.Helper()
		if n, _, err := w.claim(p.ctx); err != nil || n != 1 {
			t.Fatalf("%s: %d %v", who, n, err)
		}
	}
	return p
}

// longLease keeps this process's leases past the tests' clock moves: the
// other process must not take over its delivery.
func longLease(o *Options) { o.LeaseMargin = time.Hour }

// record records w's attempts (finish) and readies w for more, as a
// running worker goes on.
func record(t *testing.T, w *worker) int {
	t.Helper()
	n := finish(t, w)
	w.results = make(chan finished, w.s.opt.MaxInFlight)
	return n
}

// failElsewhere has the other process count n failures at the endpoint
// (the receiver must answer 500): "queued", each a new event its worker
// claims and records, the clock then moved past its back-off so far; or
// "sync", each a synchronous send, which ignores the back-off.
func (p *twoProcs) failElsewhere(t *testing.T, how string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		switch how {
		case "queued":
			ow := newWorker(p.other)
			enqueue(t, p.other, Event{Type: TypeTest})
			p.mustClaim(ow, "other process's claim")
			finish(t, ow)
			p.clock.Advance(10 * time.Second)
		case "sync":
			resp, err := p.other.Send(p.ctx, Event{Type: TypeTest}, SendOptions{EndpointID: p.ep.ID})
			if err != nil || resp.Status != 500 {
				t.Fatalf("other process's send: %+v %v", resp, err)
			}
		default:
			t.Fatalf("failElsewhere: %q", how)
		}
	}
}

// endpoint reads the endpoint's row.
func (p *twoProcs) endpoint(t *testing.T) Endpoint {
	t.Helper()
	e, err := p.s.GetEndpoint(p.ctx, p.ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wantStreak fails the test now unless the row's streak is want.
func (p *twoProcs) wantStreak(t *testing.T, when string, want int64) {
	t.Helper()
	if e := p.endpoint(t); e.FailureStreak != want {
		t.Fatalf("%s: streak %d, want %d (%+v)", when, e.FailureStreak, want, e)
	}
}

// wantHandoff fails the test unless a new event for the endpoint is
// written leased to w, as for any healthy endpoint; it is then attempted.
func (p *twoProcs) wantHandoff(t *testing.T, w *worker, fatal bool) {
	t.Helper()
	ageReading(w, p.ep.ID)
	id := enqueue(t, p.s, Event{Type: TypeTest})
	if token, _, _ := deliveryRow(t, p.s, id); token != w.token {
		if fatal {
			t.Fatalf("the recovered endpoint's new delivery was written due (lease %q), not handed off", token)
		}
		t.Errorf("the recovered endpoint's new delivery was written due (lease %q), not handed off: the worker kept its streak", token)
		p.mustClaim(w, "claim")
	}
}

// memStreak is w's streak for the endpoint.
func (p *twoProcs) memStreak(w *worker) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.streak[p.ep.ID]
}

// eachHow runs f for failures counted elsewhere by a worker and by
// synchronous sends, on each database.
func eachHow(t *testing.T, f func(t *testing.T, db *store.DB, how string)) {
	for _, how := range []string{"queued", "sync"} {
		t.Run(how, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) { f(t, db, how) })
		})
	}
}
