package lnd_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A retry of a FAILED payment goes to lnd under the same payment hash, and
// until lnd registers it (SendPaymentV2's first message) TrackPaymentV2
// still answers with the earlier attempt: FAILED. That answer says nothing
// of the retry, which lnd may register a moment later and pay. Booked as
// the retry's result, the payment would be paid but recorded FAILED (the
// caller releasing the money it paid with). It is not: before lnd has
// acknowledged the retry, a FAILED answer counts as lnd not knowing it
// yet (the grace rule of TrackPayment), whether the send gave up waiting
// for the acknowledgement, another call awaits the retry, or another
// process tracks it.
func TestRetryNotFailedByTheEarlierAttempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		clock := vaspd.NewFakeClock(time.Now())
		n := f.node(t, db, func(o *lnd.Options) { o.Clock = clock })
		tracker := f.node(t, db, func(o *lnd.Options) { o.Clock = clock })
		pr, hash, preimage := f.payReq(10_000, time.Hour)

		// The first attempt fails.
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("first attempt: %+v, %v; want FAILED", p, err)
		}

		// The retry reaches lnd, which is slow to register it.
		sending, release := make(chan struct{}), make(chan struct{})
		f.mu.Lock()
		f.onSend = func(string) ([]map[string]any, bool) {
			close(sending)
			<-release
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "SUCCEEDED"}}, false
		}
		f.mu.Unlock()
		ctx, cancel := context.WithCancel(fctx(t))
		type result struct {
			p   lightning.Payment
			err error
		}
		done := make(chan result, 1)
		go func() {
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			done <- result{p, err}
		}()
		<-sending

		// Another call for the same invoice awaits the retry.
		actx, acancel := context.WithTimeout(fctx(t), 300*time.Millisecond)
		p, err := tracker.Pay(actx, lightning.PayRequest{Invoice: pr, Timeout: 200 * time.Millisecond})
		acancel()
		if p.Status == lightning.StatusFailed {
			t.Errorf("a second Pay while the retry is handed to lnd: %s/%s, %v; want it not FAILED", p.Status, p.FailureReason, err)
		}
		// Another process tracks it (its resolver, or a restart).
		if p, err := tracker.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusInFlight {
			t.Errorf("tracked while the retry is handed to lnd: %s/%s, %v; want IN_FLIGHT", p.Status, p.FailureReason, err)
		}
		// The caller stops waiting before lnd acknowledged the retry.
		cancel()
		res := <-done
		if res.p.Status == lightning.StatusFailed {
			t.Errorf("retry cancelled before lnd acknowledged it: %s/%s, %v; want it not FAILED (outcome unknown)", res.p.Status, res.p.FailureReason, res.err)
		}

		// lnd registers the retry and pays it.
		close(release)
		waitPayment(t, f, hash, "SUCCEEDED")
		if p, err := tracker.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("once lnd paid the retry: %s/%s, %v; want SUCCEEDED with its preimage", p.Status, p.FailureReason, err)
		}
		if got := f.sendCount(); got != 2 {
			t.Fatalf("lnd received %d sends, want 2 (the attempt and its retry)", got)
		}
	})
}

// A retry answered with an error that is not lnd's refusal (a reverse
// proxy's 502: lnd may have taken it) is not failed by the earlier
// attempt lnd still shows: its outcome is unknown. One lnd refuses is
// failed, for the refusal's reason.
func TestRetryAnsweredByAProxy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("first attempt: %+v, %v; want FAILED", p, err)
		}
		// lnd refuses the retry: failed, for the refusal's reason.
		f.mu.Lock()
		f.refuse = "insufficient local balance"
		f.mu.Unlock()
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil ||
			p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureInsufficientBalance {
			t.Fatalf("retry lnd refused: %s/%s, %v; want FAILED/INSUFFICIENT_BALANCE", p.Status, p.FailureReason, err)
		}
		// A proxy answers the next: lnd may have it.
		f.mu.Lock()
		f.refuse, f.refuseHTTP, f.refuseCode = "<html><head><title>502 Bad Gateway</title></head></html>", 502, -1
		f.mu.Unlock()
		p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if err == nil || p.Status == lightning.StatusFailed || refusal(err) {
			t.Fatalf("retry answered by a proxy: %s/%s, %v; want an error that is not a refusal (outcome unknown)", p.Status, p.FailureReason, err)
		}
		f.resolvePayment(hash, "SUCCEEDED", "")
		if p, err := n.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("once lnd shows the retry paid: %s/%s, %v; want SUCCEEDED with its preimage", p.Status, p.FailureReason, err)
		}
	})
}

// A retry lnd never registered is still failed, once the grace has passed:
// lnd's FAILED answer, the earlier attempt's, with its reason.
func TestRetryNeverSentFailsAfterTheGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		clock := vaspd.NewFakeClock(time.Now())
		n := f.node(t, db, func(o *lnd.Options) { o.Clock = clock })
		pr, hash, _ := f.payReq(10_000, time.Hour)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("first attempt: %+v, %v; want FAILED", p, err)
		}
		// The retry's record, as left by a process that died before
		// its send reached lnd.
		if _, err := db.ExecContext(fctx(t), `UPDATE lnd_payments SET status = 'IN_FLIGHT', failure_reason = '',
			resolved_at = NULL, attempts = attempts + 1, attempted_at = $1 WHERE payment_hash = $2`,
			store.Micros(clock.Now()), hash.String()); err != nil {
			t.Fatal(err)
		}
		restarted := f.node(t, db, func(o *lnd.Options) { o.Clock = clock })
		if left, err := restarted.ResolveInFlight(fctx(t)); err != nil || left != 1 {
			t.Fatalf("ResolveInFlight within the grace: %d, %v; want 1 still in flight", left, err)
		}
		clock.Advance(2 * time.Minute)
		if left, err := restarted.ResolveInFlight(fctx(t)); err != nil || left != 0 {
			t.Fatalf("ResolveInFlight after the grace: %d, %v; want 0", left, err)
		}
		if p, err := restarted.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("after the grace: %s/%s, %v; want FAILED/NO_ROUTE", p.Status, p.FailureReason, err)
		}
	})
}

// waitPayment waits until the fake lnd holds the payment with this hash in
// status.
func waitPayment(t *testing.T, f *fakeLND, hash lightning.Hash, status string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		got := f.payments[hash.String()]["status"]
		f.mu.Unlock()
		if got == status {
			return
		}
	}
	t.Fatalf("fake lnd: payment %s never reached %s", hash, status)
}

// A retry of a zero-amount invoice, for another amount, that never
// reached lnd is failed once the grace has passed, although lnd's answer,
// the earlier attempt's, names the earlier amount: a failed payment moved
// nothing, and the amount recorded stands. (An answer that contradicts the
// amount recorded fails the lookup otherwise, and the payment would be
// left in flight for good, its money reserved.)
func TestRetryForAnotherAmountNeverSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		clock := vaspd.NewFakeClock(time.Now())
		n := f.node(t, db, func(o *lnd.Options) { o.Clock = clock })
		pr, hash, _ := f.payReq(0, time.Hour)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, AmountMsat: 10_000, Timeout: 5 * time.Second}); err != nil ||
			p.Status != lightning.StatusFailed || p.AmountMsat != 10_000 {
			t.Fatalf("first attempt: %+v, %v; want FAILED for 10000 msat", p, err)
		}
		// The retry, for 20 000 msat, as left by a process that died
		// before its send reached lnd.
		if _, err := db.ExecContext(fctx(t), `UPDATE lnd_payments SET status = 'IN_FLIGHT', failure_reason = '',
			resolved_at = NULL, attempts = attempts + 1, attempted_at = $1, amount_msat = 20000 WHERE payment_hash = $2`,
			store.Micros(clock.Now()), hash.String()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Minute)
		if left, err := n.ResolveInFlight(fctx(t)); err != nil || left != 0 {
			t.Fatalf("ResolveInFlight after the grace: %d, %v; want 0", left, err)
		}
		if p, err := n.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusFailed || p.AmountMsat != 20_000 {
			t.Fatalf("after the grace: %+v, %v; want FAILED for the 20000 msat recorded", p, err)
		}
	})
}
