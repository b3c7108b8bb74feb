package vasp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// runUntil starts s.Run, waits for started, stops it gracefully (as
// SIGTERM does: its context ends) and waits for Run to return.
func runUntil(t *testing.T, s *vasp.Service, started <-chan struct{}) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the work was never started")
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestCallbackGracefulStopHandsBack: a process stopped gracefully while
// it sends a post-transaction callback gives the callback up: another
// process sends it at once, not a lease (30 s) later.
func TestCallbackGracefulStopHandsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		a := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		b := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		arrived, hang := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		sink := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if calls.Add(1) == 1 {
				close(arrived)
				select { // a's attempt hangs until a stops
				case <-hang:
				case <-r.Context().Done():
				}
				return
			}
			rw.WriteHeader(200)
		}))
		defer sink.Close()
		defer close(hang)
		tr := completed(t, w, a, sink.URL+"/cb", w.clock.Now())
		runUntil(t, a, arrived)
		if st, n, _ := a.CallbackState(t.Context(), tr.ID); st != "pending" || n != 0 {
			t.Fatalf("after the stop: %s after %d attempts, want pending, no attempt recorded", st, n)
		}
		// No clock advance: the lease must not be what lets b in.
		if n, err := b.CallbackRound(t.Context()); n != 1 || err != nil {
			t.Fatalf("process b claimed %d callbacks (%v), want the one a stopped sending", n, err)
		}
		if st, _, _ := b.CallbackState(t.Context(), tr.ID); st != "sent" {
			t.Fatalf("after b's send: %s", st)
		}
	})
}

// blockingRegistry is a compliance hook whose calls wait until their
// context ends, telling started of the first.
type blockingRegistry struct {
	vasp.DomainPolicy
	started chan struct{}
	calls   atomic.Int32
}

func (r *blockingRegistry) RegisterTransaction(ctx context.Context, _ vasp.Transaction) {
	if r.calls.Add(1) == 1 {
		close(r.started)
	}
	<-ctx.Done()
}

// TestRegistrationGracefulStopHandsBack: a process stopped gracefully in
// the middle of a round of compliance registrations hands back the one
// its hook was making and those it had not come to: another process
// registers them at once, not a lease (a minute) later.
func TestRegistrationGracefulStopHandsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		stopping := &blockingRegistry{started: make(chan struct{})}
		a := w.service(t, func(o *vasp.Options) { o.Compliance = stopping })
		reg := &registry{}
		b := w.service(t, func(o *vasp.Options) { o.Compliance = reg })
		var ids []string
		for i := 0; i < 3; i++ {
			ids = append(ids, completed(t, w, a, "", w.clock.Now()).ID)
		}
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		go func() { <-stopping.started; stop() }()
		if n, err := a.RegisterRound(ctx); n != 3 || err != nil {
			t.Fatalf("a claimed %d registrations (%v), want 3", n, err)
		}
		// No clock advance: the lease must not be what lets b in.
		if n, err := b.RegisterRound(t.Context()); n != 3 || err != nil {
			t.Fatalf("b claimed %d registrations (%v), want the 3 a stopped making", n, err)
		}
		for _, id := range ids {
			if n, _ := reg.times(id); n != 1 {
				t.Errorf("%s registered %d times by b, want 1", id, n)
			}
		}
	})
}

// TestCompletedRegistrationGracefulStopHandsBack: a process stopped
// gracefully while its hook registers a payment it has just completed
// hands the registration back: another process makes it at once, not a
// lease (a minute after the payment settled) later.
func TestCompletedRegistrationGracefulStopHandsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		w := h.w
		sender := w.counterparty(t, "vasp1.example")
		stopping := &blockingRegistry{started: make(chan struct{})}
		a := w.service(t, func(o *vasp.Options) { o.Compliance = stopping })
		reg := &registry{}
		b := w.service(t, func(o *vasp.Options) { o.Compliance = reg })

		pr, err := a.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
		wantCode(t, err, "")
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		go func() { <-stopping.started; stop() }()
		a.SweepPending(ctx) // completes the payment; its hook call is cut by the stop
		var in string
		if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE invoice = $1 AND status = $2`,
			pr.PR, vasp.StatusCompleted).Scan(&in); err != nil {
			t.Fatalf("the incoming payment is not COMPLETED: %v", err)
		}
		// No clock advance: the completing process's claim must not be
		// what keeps b off it.
		if n, err := b.RegisterRound(t.Context()); n != 1 || err != nil {
			t.Fatalf("b claimed %d registrations (%v), want the one a stopped making", n, err)
		}
		if n, _ := reg.times(in); n != 1 {
			t.Fatalf("registered %d times by b, want 1", n)
		}
	})
}
