package vasp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A settled payment whose credit would take the payee past
// ledger.MaxBalance (the balance grew after it was priced) neither stalls
// the settlements after it nor is lost: it stays PENDING, booked to no
// one, and is credited whole once the payee's balance has room. So is
// one the sweep had expired before it was paid after all: it goes back to
// PENDING, which is what the sweep retries.
func TestSettlementPastBalanceCap(t *testing.T) {
	for _, expired := range []bool{false, true} {
		t.Run(map[bool]string{false: "pending", true: "expired"}[expired], func(t *testing.T) {
			settlementPastBalanceCap(t, expired)
		})
	}
}

func settlementPastBalanceCap(t *testing.T, expired bool) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)
		l := ledger.New(db, nil)
		status := func(invoice string) string {
			t.Helper()
			var st string
			if err := db.QueryRowContext(t.Context(), `SELECT status FROM uma_transactions WHERE invoice = $1`, invoice).Scan(&st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		pay := func(invoice string) {
			t.Helper()
			if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: invoice, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", p, err)
			}
		}
		balance := func(r vasp.Recipient, currency string) int64 {
			t.Helper()
			b, err := l.Balance(t.Context(), db, ledger.UserAccount(r.UserID), currency)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}

		prA := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()) // 5.00 EUR to bob
		a, err := s.PayRequest(t.Context(), "bob", prA)
		wantCode(t, err, "")
		if _, err := l.Post(t.Context(), ledger.Deposit("deposit/cap", w.bob.UserID, "EUR", ledger.MaxBalance-100, "test")); err != nil {
			t.Fatal(err)
		}
		if expired {
			if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET status = $1, failure_reason = 'INVOICE_EXPIRED'
				WHERE invoice = $2`, vasp.StatusExpired, a.PR); err != nil {
				t.Fatal(err)
			}
		}
		pay(a.PR)

		prB := payRequest(t, sender.Signing, "$carol@vasp1.example", w.clock.Now())
		prB.SendingCurrency, prB.ReceivingCurrency = "USD", "USD"
		if err := prB.Sign(sender.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		b, err := s.PayRequest(t.Context(), "alice", prB)
		wantCode(t, err, "")
		pay(b.PR)
		for deadline := time.Now().Add(15 * time.Second); status(b.PR) != vasp.StatusCompleted; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a payment settled after one past the payee's cap was never credited")
			}
		}
		if st, bal := status(a.PR), balance(w.bob, "EUR"); st != vasp.StatusPending || bal != ledger.MaxBalance-100 {
			t.Fatalf("the payment past the cap is %s, bob has %d; want PENDING and nothing booked", st, bal)
		}

		// Bob spends: the sweep credits the payment.
		if _, err := l.Post(t.Context(), ledger.Withdrawal("withdraw/cap", w.bob.UserID, "EUR", 1000, "test")); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		s.SweepPending(t.Context())
		if st, bal := status(a.PR), balance(w.bob, "EUR"); st != vasp.StatusCompleted || bal != ledger.MaxBalance-100-1000+500 {
			t.Fatalf("after the sweep the payment is %s, bob has %d", st, bal)
		}
	})
}

// syncBuffer is a log sink safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// count is how many log lines at level or above mention substr.
func (s *syncBuffer) count(t *testing.T, level slog.Level, substr string) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var rec struct{ Level slog.Level }
		if line == "" || !strings.Contains(line, substr) {
			continue
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level >= level {
			n++
		}
	}
	return n
}

// A payment the balance cap keeps PENDING is retried by every sweep (each
// 15 s) but logged as a warning once an hour, not at every retry.
func TestSettlementPastBalanceCapLogsOnceAnHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var logs syncBuffer
		s := w.service(t, func(o *vasp.Options) {
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		l := ledger.New(db, nil)
		resp, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
		wantCode(t, err, "")
		if _, err := l.Post(t.Context(), ledger.Deposit("deposit/cap", w.bob.UserID, "EUR", ledger.MaxBalance-100, "test")); err != nil {
			t.Fatal(err)
		}
		p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		hash := p.PaymentHash.String()
		w.clock.Advance(time.Minute)
		for range 240 { // an hour of sweeps, 15 s apart
			s.SweepPending(t.Context())
			w.clock.Advance(15 * time.Second)
		}
		if n := logs.count(t, slog.LevelWarn, hash); n != 1 {
			t.Fatalf("an hour of sweeps retrying a payment past the balance cap logged %d warnings, want 1", n)
		}
		if n := logs.count(t, slog.LevelDebug, hash); n < 240 {
			t.Fatalf("%d retries logged at debug level, want every one of the 240", n)
		}
		w.clock.Advance(time.Minute)
		s.SweepPending(t.Context())
		if n := logs.count(t, slog.LevelWarn, hash); n != 2 {
			t.Fatalf("an hour later the payment past the cap logged %d warnings in all, want 2", n)
		}
		var st string
		if err := db.QueryRowContext(t.Context(), `SELECT status FROM uma_transactions WHERE invoice = $1`, resp.PR).Scan(&st); err != nil || st != vasp.StatusPending {
			t.Fatalf("payment past the cap is %s (%v), want PENDING", st, err)
		}
	})
}

// What this process remembers of the payments the balance cap keeps
// PENDING (to log each once an hour) is bounded: a flood of them within
// the hour (a payee far over its cap paid many times) does not grow it
// without end. Each is logged as an error the first time all the same,
// and one just reported is not again within the hour.
func TestCappedPaymentsRememberedBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		s := w.service(t, func(o *vasp.Options) {
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		const n = 3000
		hash := func(i int) string { return fmt.Sprintf("%064x", i) }
		for i := range n {
			s.NoteCapped(t.Context(), hash(i), ledger.ErrOverflow)
			w.clock.Advance(time.Millisecond)
		}
		if got := s.CappedNoted(); got > vasp.CappedNotedMax {
			t.Errorf("%d payments the cap keeps PENDING remembered after %d within the hour; want at most %d", got, n, vasp.CappedNotedMax)
		}
		if got := logs.count(t, slog.LevelError, "balance cap"); got != n {
			t.Fatalf("%d of %d payments first refused for the cap logged as errors", got, n)
		}
		s.NoteCapped(t.Context(), hash(n-1), ledger.ErrOverflow)
		if got := logs.count(t, slog.LevelError, "balance cap"); got != n {
			t.Fatalf("the payment reported last logged as an error again within the hour")
		}
		w.clock.Advance(time.Hour)
		s.NoteCapped(t.Context(), hash(n-1), ledger.ErrOverflow)
		if got := logs.count(t, slog.LevelError, "balance cap"); got != n+1 {
			t.Fatalf("the payment still refused an hour later not logged as an error again")
		}
	})
}
