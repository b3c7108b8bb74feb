package vasp_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

var errCrash = errors.New("the process died")

// crashingCompliance stands for a process that dies once a payment's
// completion is committed, before the compliance hook is told of it.
type crashingCompliance struct{ vasp.DomainPolicy }

func (crashingCompliance) RegisterTransaction(context.Context, vasp.Transaction) { panic(errCrash) }

// registry is a compliance hook that records what it is told.
type registry struct {
	vasp.DomainPolicy
	mu  sync.Mutex
	got []vasp.Transaction
}

func (r *registry) RegisterTransaction(_ context.Context, t vasp.Transaction) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, t)
}

// times is how many times the transaction id was registered, and as what.
func (r *registry) times(id string) (n int, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.got {
		if t.ID == id {
			n, status = n+1, t.Status
		}
	}
	return n, status
}

// crashes runs f, which must die of errCrash.
func crashes(t *testing.T, f func()) {
	t.Helper()
	died := false
	func() {
		defer func() {
			if r := recover(); r != nil {
				if r != errCrash {
					panic(r)
				}
				died = true
			}
		}()
		f()
	}()
	if !died {
		t.Fatal("the process did not die where the test meant it to")
	}
}

// Compliance.RegisterTransaction is told of every completed payment at
// least once, crash or not: a process that dies between a payment's
// completion and the call leaves it owed, and the next process (or any
// other sharing the database) makes the call. One that made the call
// does not make it again.
func TestRegistrationSurvivesACrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		w := h.w
		sender := w.counterparty(t, "vasp1.example")
		crashing := w.service(t, func(o *vasp.Options) { o.Compliance = crashingCompliance{} })

		// An outgoing payment completes; the process dies before telling
		// the hook.
		h.fund(t, 100_000)
		q, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		crashes(t, func() { _, _ = crashing.ExecuteQuote(t.Context(), q.ID, "") })
		out, err := crashing.GetQuote(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st := statusOf(t, crashing, out.TransactionID); st != vasp.StatusCompleted+"/" {
			t.Fatalf("the outgoing payment is %s, want COMPLETED", st)
		}

		// An incoming payment completes; the process dies alike.
		pr, err := crashing.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
		wantCode(t, err, "")
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		crashes(t, func() { crashing.SweepPending(t.Context()) })
		var in string
		if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE invoice = $1 AND status = $2`,
			pr.PR, vasp.StatusCompleted).Scan(&in); err != nil {
			t.Fatalf("the incoming payment is not COMPLETED: %v", err)
		}

		// The next process registers both.
		reg := &registry{}
		restarted := w.service(t, func(o *vasp.Options) { o.Compliance = reg })
		w.clock.Advance(2 * time.Minute)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- restarted.Run(ctx) }()
		// Run's first round usually registers both at once; but the
		// callback sender, started beside it, may hold the rows' locks
		// for its own claim just then, and the round passes locked rows
		// over (SKIP LOCKED) to the next, RegisterEvery later.
		for deadline := time.Now().Add(vasp.RegisterEvery + 10*time.Second); ; time.Sleep(20 * time.Millisecond) {
			a, _ := reg.times(in)
			b, _ := reg.times(out.TransactionID)
			if a > 0 && b > 0 {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("after the restart the incoming payment was registered %d times, the outgoing one %d; want once each", a, b)
			}
		}
		cancel()
		<-done
		for _, id := range []string{in, out.TransactionID} {
			if n, st := reg.times(id); n != 1 || st != vasp.StatusCompleted {
				t.Errorf("%s registered %d times (last as %s), want once as COMPLETED", id, n, st)
			}
		}
		// Registered: owed no more, whichever process looks.
		w.clock.Advance(time.Hour)
		if n, err := restarted.RegisterRound(t.Context()); n != 0 || err != nil {
			t.Fatalf("a registered payment was claimed again: %d, %v", n, err)
		}

		// Without a crash the payment is registered as it completes, once.
		pr, err = restarted.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$carol@vasp1.example", w.clock.Now()))
		wantCode(t, err, "")
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute)
		restarted.SweepPending(t.Context())
		if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE invoice = $1 AND status = $2`,
			pr.PR, vasp.StatusCompleted).Scan(&in); err != nil {
			t.Fatalf("the incoming payment is not COMPLETED: %v", err)
		}
		if n, _ := reg.times(in); n != 1 {
			t.Fatalf("a payment completed without a crash was registered %d times as it completed, want 1", n)
		}
		w.clock.Advance(time.Hour)
		if n, err := restarted.RegisterRound(t.Context()); n != 0 || err != nil {
			t.Fatalf("a payment registered as it completed was claimed again: %d, %v", n, err)
		}
		if n, _ := reg.times(in); n != 1 {
			t.Fatalf("a payment completed without a crash was registered %d times, want 1", n)
		}
	})
}

// Migration 0460 counts the payments completed before it as registered
// (the process that completed them told the hook) and leaves the others
// owed: an EXPIRED payment settled late is registered when it completes.
func TestUpgradeRegistrationOwed(t *testing.T) {
	storetest.EachUpgrade(t, 460, func(t *testing.T, old *sql.DB) {
		for i, st := range []string{vasp.StatusCompleted, vasp.StatusExpired, vasp.StatusFailed} {
			insertOldTransaction(t, old, "INCOMING", st, i)
		}
	}, func(t *testing.T, db *store.DB) {
		for st, want := range map[string]string{vasp.StatusCompleted: "done", vasp.StatusExpired: "pending", vasp.StatusFailed: "pending"} {
			var got string
			if err := db.QueryRowContext(t.Context(), `SELECT register_state FROM uma_transactions WHERE id = $1`, "Transaction:"+st).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("a payment %s before the upgrade has register_state %s, want %s", st, got, want)
			}
		}
		w := newWorld(t, db)
		reg := &registry{}
		s := w.service(t, func(o *vasp.Options) { o.Compliance = reg })
		if n, err := s.RegisterRound(t.Context()); n != 0 || err != nil {
			t.Fatalf("registrations claimed after the upgrade: %d, %v; want none", n, err)
		}
	})
}

// With the default DomainPolicy, whose hook does nothing, a payment
// completes registered (no second commit per payment to mark it), and a
// registration another process's hook left owed is marked made, not
// claimed again lease after lease.
func TestNoopRegistrationCostsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		state := func(id string) string {
			t.Helper()
			var st string
			if err := db.QueryRowContext(t.Context(), `SELECT register_state FROM uma_transactions WHERE id = $1`, id).Scan(&st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		pr, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
		wantCode(t, err, "")
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute)
		s.SweepPending(t.Context())
		var id string
		if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE invoice = $1 AND status = $2`,
			pr.PR, vasp.StatusCompleted).Scan(&id); err != nil {
			t.Fatalf("the incoming payment is not COMPLETED: %v", err)
		}
		if st := state(id); st != "done" {
			t.Fatalf("a payment completed under DomainPolicy has register_state %s, want done", st)
		}

		owed := completed(t, w, s, "", w.clock.Now()) // as completed under another hook: owed
		w.clock.Advance(2 * time.Minute)
		if n, err := s.RegisterRound(t.Context()); n != 1 || err != nil {
			t.Fatalf("first round: %d, %v; want the one owed", n, err)
		}
		if st := state(owed.ID); st != "done" {
			t.Fatalf("an owed registration is %s after a DomainPolicy round, want done", st)
		}
		w.clock.Advance(2 * time.Minute)
		if n, err := s.RegisterRound(t.Context()); n != 0 || err != nil {
			t.Fatalf("second round: %d, %v; want none", n, err)
		}
	})
}
