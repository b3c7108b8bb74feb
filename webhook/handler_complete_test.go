package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store/storetest"
)

// completeFails is a real Store whose Complete fails, before reaching it,
// the first fails times (a database restarting, a connection dropped):
// with ErrClaimLost if lost is set, else with a transient error.
type completeFails struct {
	Store
	fails atomic.Int32
	calls atomic.Int32
	lost  bool
}

var errTransient = errors.New("connection reset by peer")

func (s *completeFails) Complete(ctx context.Context, id, token string, retain time.Duration) error {
	s.calls.Add(1)
	if s.fails.Add(-1) >= 0 {
		if s.lost {
			return ErrClaimLost
		}
		return errTransient
	}
	return s.Store.Complete(ctx, id, token, retain)
}

// answerLost is a real Store whose Complete reaches it, and commits, but
// whose answer is lost the first lost times (a connection dropped after
// the commit): it then reports a transient error.
type answerLost struct {
	Store
	lost  atomic.Int32
	calls atomic.Int32
}

func (s *answerLost) Complete(ctx context.Context, id, token string, retain time.Duration) error {
	s.calls.Add(1)
	err := s.Store.Complete(ctx, id, token, retain)
	if err == nil && s.lost.Add(-1) >= 0 {
		return errTransient
	}
	return err
}

// completeStores are the real stores the tests below wrap.
var completeStores = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"memory", func(t *testing.T) Store { return &MemoryStore{} }},
	{"store.DB sqlite", func(t *testing.T) Store { return openDBStore(t, storetest.SQLite(t), &fakeClock{t: time.Now()}) }},
	{"store.DB postgres", func(t *testing.T) Store {
		return openDBStore(t, storetest.Postgres(t), &fakeClock{t: time.Now()})
	}},
}

// TestHandlerRetriesComplete: marking an event processed after the platform
// handler succeeded is tried again when it fails once (a transient store
// error), so the sender's retry of the event is answered 409 instead of
// running the handler again. The failure was only logged: the id was left
// claimed until its lease ended, and then processed once more.
func TestHandlerRetriesComplete(t *testing.T) {
	for _, sc := range completeStores {
		t.Run(sc.name, func(t *testing.T) {
			st := &completeFails{Store: sc.open(t)}
			st.fails.Store(1)
			r := newReceiver(t, st, approveAll)
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
			if n := st.calls.Load(); n != 2 {
				t.Errorf("Complete called %d times, want 2 (one failure, one retry)", n)
			}
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
		})
	}
}

// TestHandlerMarkFailed: an event handled but not marked processed — the
// Store's Complete failing at every try, or the claim lost (its lease ran
// out while the handler ran) — keeps its reply and is passed to
// HandlerConfig.MarkFailed, once, with the Store's error, for the
// platform's metrics or alerts: it was only logged. A lost claim is not
// tried again (no try can win it back), and a MarkFailed that panics
// costs the sender nothing.
func TestHandlerMarkFailed(t *testing.T) {
	for _, c := range []struct {
		name  string
		lost  bool
		panic bool
		calls int32
		want  error
	}{
		{"failing", false, false, completeAttempts, errTransient},
		{"claim lost", true, false, 1, ErrClaimLost},
		{"hook panics", false, true, completeAttempts, errTransient},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, sc := range completeStores {
				t.Run(sc.name, func(t *testing.T) {
					st := &completeFails{Store: sc.open(t), lost: c.lost}
					st.fails.Store(1000)
					r := newReceiver(t, st, approveAll)
					var got []string
					var gotErr error
					r.h.cfg.MarkFailed = func(ctx context.Context, ev Event, err error) {
						got = append(got, ev.Envelope().WebhookID)
						gotErr = err
						if c.panic {
							panic("boom")
						}
					}
					r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
					if n := st.calls.Load(); n != c.calls {
						t.Errorf("Complete called %d times, want %d", n, c.calls)
					}
					if len(got) != 1 || got[0] != vecTestID || !errors.Is(gotErr, c.want) {
						t.Errorf("MarkFailed got %v, %v; want [%s], %v", got, gotErr, vecTestID, c.want)
					}
				})
			}
		})
	}
}

// TestHandlerCompleteAnswerLost: a completion that committed but whose
// answer was lost is tried again, and the retry, finding the id done under
// its own claim, counts as success: no false alarm through MarkFailed, no
// ERROR line. The retry got ErrClaimLost (the store's UPDATE matched only a
// claim still processing), and the handler told MarkFailed that an event
// marked processed was not.
func TestHandlerCompleteAnswerLost(t *testing.T) {
	for _, sc := range completeStores {
		t.Run(sc.name, func(t *testing.T) {
			st := &answerLost{Store: sc.open(t)}
			st.lost.Store(1)
			r := newReceiver(t, st, approveAll)
			var failed []error
			r.h.cfg.MarkFailed = func(ctx context.Context, ev Event, err error) { failed = append(failed, err) }
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
			if n := st.calls.Load(); n != 2 {
				t.Errorf("Complete called %d times, want 2 (the answer lost, one retry)", n)
			}
			if len(failed) != 0 {
				t.Errorf("MarkFailed called for a completion that committed: %v", failed)
			}
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
		})
	}
}

// purgedMidway is a real Store whose claims expire and are forgotten while
// the platform handler runs: before the first Complete the clock passes
// the lease and the expired rows are deleted (SQLStore.Purge; a
// MemoryStore forgets them at its next Claim).
type purgedMidway struct {
	Store
	clock  *fakeClock
	purged atomic.Bool
}

func (s *purgedMidway) Complete(ctx context.Context, id, token string, retain time.Duration) error {
	if !s.purged.Swap(true) {
		s.clock.Advance(DefaultLease + time.Second)
		switch st := s.Store.(type) {
		case *SQLStore:
			if n, err := st.Purge(ctx); err != nil || n != 1 {
				return fmt.Errorf("purge: %d rows, %v; want 1", n, err)
			}
		case *MemoryStore:
			if _, err := st.Claim(ctx, "Webhook:sweeper", time.Second); err != nil {
				return err
			}
			if n := st.Len(); n != 1 {
				return fmt.Errorf("memory store holds %d ids after the sweep, want 1", n)
			}
		}
	}
	return s.Store.Complete(ctx, id, token, retain)
}

// TestHandlerCompleteAfterPurge: an event the platform handled while its
// claim expired and was purged (a handler slower than the lease, an hourly
// Purge in between) is marked processed all the same, since no other
// request has claimed it meanwhile: a retry is answered 409, and
// MarkFailed is not told. Complete found no row and returned ErrClaimLost,
// so the id was left unrecorded: the handler logged an ERROR, told
// MarkFailed, and the sender's retry (or a replay) ran the platform's
// handler again for an event it had processed.
func TestHandlerCompleteAfterPurge(t *testing.T) {
	opens := []struct {
		name string
		open func(t *testing.T, clock *fakeClock) Store
	}{
		{"memory", func(t *testing.T, clock *fakeClock) Store { return &MemoryStore{Now: clock.Now} }},
		{"store.DB sqlite", func(t *testing.T, clock *fakeClock) Store { return openDBStore(t, storetest.SQLite(t), clock) }},
		{"store.DB postgres", func(t *testing.T, clock *fakeClock) Store {
			return openDBStore(t, storetest.Postgres(t), clock)
		}},
	}
	for _, sc := range opens {
		t.Run(sc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Now()}
			st := &purgedMidway{Store: sc.open(t, clock), clock: clock}
			r := newReceiver(t, st, approveAll)
			var failed []error
			r.h.cfg.MarkFailed = func(ctx context.Context, ev Event, err error) { failed = append(failed, err) }
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
			if !st.purged.Load() {
				t.Fatal("Complete was not called")
			}
			if len(failed) != 0 {
				t.Errorf("MarkFailed called for an event marked processed: %v", failed)
			}
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
		})
	}
}
