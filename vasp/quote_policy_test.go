package vasp_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// switchablePolicy is the default DomainPolicy until deny is set, then
// refuses every counterparty: an operator's deny list changed (a restart
// with counterparty-deny, or a compliance hook's verdict) after a lookup.
type switchablePolicy struct {
	vasp.DomainPolicy
	deny atomic.Bool
}

func (p *switchablePolicy) CounterpartyAllowed(ctx context.Context, domain string) error {
	if p.deny.Load() {
		return vasp.DomainPolicy{Deny: []string{domain}}.CounterpartyAllowed(ctx, domain)
	}
	return p.DomainPolicy.CounterpartyAllowed(ctx, domain)
}

// Compliance.CounterpartyAllowed is asked before we call a VASP, not only
// at the lookup: a quote made from a lookup of a counterparty denied since
// is refused with 403 COUNTERPARTY_NOT_ALLOWED before any payreq, and an
// auto-refresh quote is not refreshed (no payreq goes out) once its
// receiver is denied, nor executed: the money would go to it. The quote
// stays PENDING and nothing moves.
func TestQuoteAsksThePolicyBeforeThePayreq(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		policy := &switchablePolicy{}
		r := newRefresher(t, db, func(o *vasp.Options) { o.Compliance = policy })
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		sent := r.payreqs.Load()
		l := r.lookup(t)
		policy.deny.Store(true)

		_, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD",
			ReceivingCurrency: "EUR", LockedSide: vasp.LockedReceiving, Amount: 900})
		if e := vaspd.AsError(err); e == nil || e.Status != http.StatusForbidden || e.Code != vaspd.CodeCounterpartyNotAllowed {
			t.Fatalf("quote to a denied counterparty: %v, want 403 COUNTERPARTY_NOT_ALLOWED", err)
		}
		if _, err := r.s.RefreshQuote(t.Context(), q.ID); vaspd.AsError(err) == nil || vaspd.AsError(err).Code != vaspd.CodeCounterpartyNotAllowed {
			t.Fatalf("refresh of a quote to a denied counterparty: %v", err)
		}
		if _, err := r.s.ExecuteQuote(t.Context(), q.ID, ""); vaspd.AsError(err) == nil || vaspd.AsError(err).Status != http.StatusForbidden ||
			vaspd.AsError(err).Code != vaspd.CodeCounterpartyNotAllowed {
			t.Fatalf("execute of a quote to a denied counterparty: %v, want 403 COUNTERPARTY_NOT_ALLOWED", err)
		}
		if got := balance(t, r.w.db, ledger.UserAccount(r.w.alice.UserID), "USD"); got != 100_000 {
			t.Fatalf("alice holds %d after a refused execute, want 100000", got)
		}
		if got := r.get(t, q.ID); got.Status != vasp.QuotePending || got.TransactionID != "" {
			t.Fatalf("quote after a refused execute: %s %q", got.Status, got.TransactionID)
		}
		r.w.clock.Advance(35 * time.Second)
		if n := r.round(t, r.s); n != 0 {
			t.Errorf("%d quotes refreshed with their receiver denied", n)
		}
		if got := r.payreqs.Load(); got != sent {
			t.Fatalf("%d payreqs sent to a denied counterparty", got-sent)
		}
		if got := r.get(t, q.ID); got.PaymentHash != q.PaymentHash || got.RefreshCount != 0 {
			t.Fatalf("the quote's terms changed: %+v", got)
		}
	})
}

// A post-transaction callback owed to a counterparty denied since the
// payment is not sent (it carries our node's UTXOs to that VASP): it ends
// "refused", its error saying our policy refused it, with one warning, and
// is not tried again. One to an allowed counterparty is sent as before.
func TestCallbackToADeniedCounterpartyIsNotSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		policy := &switchablePolicy{}
		var logs syncBuffer
		s := w.service(t, func(o *vasp.Options) {
			o.Compliance = policy
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		sink := newStatusSink(t)
		tr := completed(t, w, s, sink.srv.URL+"/ok", w.clock.Now())
		policy.deny.Store(true)
		allRounds(t, s)
		wantCallbackRefused(t, s, sink, tr.ID, "vasp1.example")
		if got := logs.count(t, slog.LevelWarn, tr.ID); got != 1 {
			t.Errorf("%d warnings, want 1", got)
		}
		w.clock.Advance(2 * time.Hour)
		if n := allRounds(t, s); n != 0 {
			t.Errorf("%d callbacks claimed again", n)
		}

		policy.deny.Store(false)
		ok := completed(t, w, s, sink.srv.URL+"/ok", w.clock.Now())
		allRounds(t, s)
		if st, _, _ := s.CallbackState(t.Context(), ok.ID); st != "sent" || sink.count("/ok") != 1 {
			t.Fatalf("callback to an allowed counterparty: %s, sent %d times", st, sink.count("/ok"))
		}
	})
}

// A callback whose payment names a counterparty that is not an UMA address
// (a row written by another tool, or an older vaspd) cannot be put to the
// policy: it is refused, not sent unchecked.
func TestCallbackToAnUnreadableCounterpartyIsNotSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		sink := newStatusSink(t)
		tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusCompleted,
			UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain,
			Counterparty: "alice at vasp1.example", PaymentHash: strings.Repeat("ab", 32), Invoice: "lnbcrt1",
			Currency: "EUR", Amount: 1000, Msats: 1_000_000, CreatedAt: w.clock.Now(), UpdatedAt: w.clock.Now(), SettledAt: w.clock.Now()}
		tr.Details.UtxoCallback = sink.srv.URL + "/ok"
		if err := s.InsertTransaction(t.Context(), tr); err != nil {
			t.Fatal(err)
		}
		allRounds(t, s)
		wantCallbackRefused(t, s, sink, tr.ID, "not an UMA address")
	})
}

// wantCallbackRefused checks that transaction id's callback was never sent
// to sink and ended refused, its error containing why.
func wantCallbackRefused(t *testing.T, s *vasp.Service, sink *statusSink, id, why string) {
	t.Helper()
	if n := sink.count("/ok"); n != 0 {
		t.Fatalf("the callback was sent %d times", n)
	}
	st, _, _ := s.CallbackState(t.Context(), id)
	got, _ := s.CallbackError(t.Context(), id)
	if st != "refused" || !strings.Contains(got, why) {
		t.Fatalf("callback %s (%q), want refused saying %q", st, got, why)
	}
}

// A signed UMA sender may name itself without the "$" (its payreq is
// verified with its domain's keys all the same, and its own callbacks
// about the payment are heard): the post-transaction callback it asked
// for is sent to it, our policy applied to its domain. It was refused as
// owed to "no UMA address", and never sent.
func TestCallbackToASenderWithoutDollar(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		policy := &switchablePolicy{}
		s := w.service(t, func(o *vasp.Options) { o.Compliance = policy })
		runService(t, s)
		sink := newStatusSink(t)
		// decided waits for the running service to decide transaction
		// id's callback: sent or not.
		decided := func(id string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, _, err := s.CallbackState(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if st != "pending" {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("callback of %s still %s", id, st)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		paid := func(path string, beforePay func()) string {
			t.Helper()
			pr := payRequest(t, sender.Signing, "alice@vasp1.example", w.clock.Now())
			pr.PayerData.Compliance.UtxoCallback = sink.srv.URL + path
			if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := s.PayRequest(t.Context(), "bob", pr)
			wantCode(t, err, "")
			beforePay()
			if pay, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || pay.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", pay, err)
			}
			ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
			if err != nil || len(ts) != 1 || ts[0].Counterparty != "alice@vasp1.example" {
				t.Fatalf("transactions %+v, %v", ts, err)
			}
			decided(ts[0].ID)
			return ts[0].ID
		}
		id := paid("/ok", func() {})
		if st, _, _ := s.CallbackState(t.Context(), id); st != "sent" || sink.count("/ok") != 1 {
			why, _ := s.CallbackError(t.Context(), id)
			t.Fatalf("callback %s (%q), sent %d times; want sent once", st, why, sink.count("/ok"))
		}
		// Denied since the payment: refused, the policy asked about the
		// sender's domain.
		id = paid("/ok", func() { policy.deny.Store(true) })
		why, _ := s.CallbackError(t.Context(), id)
		if st, _, _ := s.CallbackState(t.Context(), id); st != "refused" || !strings.Contains(why, "vasp1.example") || sink.count("/ok") != 1 {
			t.Fatalf("callback to a denied sender: %s (%q), sent %d times in all", st, why, sink.count("/ok"))
		}
		// A receiver we paid without the "$" is a plain Lightning Address
		// (vasp/lnaddr.go), no VASP: still refused, were a row to hold a
		// callback for it.
		policy.deny.Store(false)
		plain := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Outgoing, Status: vasp.StatusCompleted,
			UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain,
			Counterparty: "carol@vasp1.example", PaymentHash: strings.Repeat("cd", 32), Invoice: "lnbcrt1",
			Currency: "EUR", Amount: 1000, Msats: 1_000_000, CreatedAt: w.clock.Now(), UpdatedAt: w.clock.Now(), SettledAt: w.clock.Now()}
		plain.Details.UtxoCallback = sink.srv.URL + "/ok"
		if err := s.InsertTransaction(t.Context(), plain); err != nil {
			t.Fatal(err)
		}
		decided(plain.ID)
		why, _ = s.CallbackError(t.Context(), plain.ID)
		if st, _, _ := s.CallbackState(t.Context(), plain.ID); st != "refused" || !strings.Contains(why, "plain Lightning Address") || sink.count("/ok") != 1 {
			t.Fatalf("callback to a plain Lightning Address: %s (%q), sent %d times in all", st, why, sink.count("/ok"))
		}
	})
}
