package lnd_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// With a RequestTimeout longer than the default grace, a payment still
// being handed to lnd (recorded, not yet registered by lnd) must not be
// marked FAILED by another process: the send may still go through, and the
// payment would be paid but recorded failed. The default grace follows the
// request timeout; a shorter explicit one is refused (TestNewValidates).
func TestUnknownPaymentGraceCoversTheSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		clock := vaspd.NewFakeClock(time.Now())
		slow := func(o *lnd.Options) { o.Clock, o.RequestTimeout = clock, 5*time.Minute }
		sender, tracker := f.node(t, db, slow), f.node(t, db, slow)
		sending, release := make(chan struct{}), make(chan struct{})
		f.onSend = func(string) ([]map[string]any, bool) {
			close(sending) // lnd has the request but has not registered the payment
			<-release
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "SUCCEEDED"}}, false
		}
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		type result struct {
			p   lightning.Payment
			err error
		}
		done := make(chan result, 1)
		go func() {
			p, err := sender.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 10 * time.Second})
			done <- result{p, err}
		}()
		<-sending

		// Past the 2-minute default, within the 5-minute request timeout.
		clock.Advance(3 * time.Minute)
		p, err := tracker.TrackPayment(fctx(t), hash)
		close(release)
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("tracked while the send is being handed to lnd: %+v, %v; want IN_FLIGHT", p, err)
		}
		res := <-done
		if res.err != nil || res.p.Status != lightning.StatusSucceeded || res.p.Preimage != preimage {
			t.Fatalf("pay: %+v, %v; want SUCCEEDED", res.p, res.err)
		}
		if p, err := tracker.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("recorded: %+v, %v; want SUCCEEDED", p, err)
		}

		// A payment lnd never heard of is still failed once the grace
		// (request timeout + margin) has passed.
		// (Recorded as by a process that died before sending.)
		lost, lostHash, _ := f.payReq(10_000, time.Hour)
		if _, err := db.ExecContext(fctx(t), `INSERT INTO lnd_payments (node_pubkey, payment_hash, payment_request,
			destination, amount_msat, max_fee_msat, fee_msat, status, preimage, failure_reason, attempts, created_at, attempted_at)
			VALUES ($1, $2, $3, '', 10000, 1000, 0, 'IN_FLIGHT', '', '', 1, $4, $4)`,
			f.pubkey, lostHash.String(), lost, store.Micros(clock.Now())); err != nil {
			t.Fatal(err)
		}
		clock.Advance(5*time.Minute + lnd.UnknownPaymentMargin - time.Second)
		if p, err := tracker.TrackPayment(fctx(t), lostHash); err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("unknown payment within the grace: %+v, %v; want IN_FLIGHT", p, err)
		}
		clock.Advance(time.Second)
		if p, err := tracker.TrackPayment(fctx(t), lostHash); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("unknown payment after the grace: %+v, %v; want FAILED", p, err)
		}
	})
}
