package vasp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// TestQuoteReceiverRateWorseThanLookup: a receiver's lookup advertises EUR
// at 1000 msats a cent; its payreq answer converts at a multiplier of its
// choosing, which the invoice follows. At twice the lookup's (a
// bait-and-switch: a good rate shown at the lookup, a worse one charged)
// the quote was made, our user charged twice what the lookup's rate says;
// it is refused 424, the message saying to look the receiver up again. A
// move within the tolerance (a rate moving between lookup and quote) is
// quoted, as is a better rate.
func TestQuoteReceiverRateWorseThanLookup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 1_000_000)
		l := h.lookup(t)
		at := func(multiplier float64) {
			h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
				msats := int64(float64(pr.Amount) * multiplier)
				if pr.SendingCurrency == "" { // sender-locked: msats asked
					msats = pr.Amount
					r.Converted.Amount = int64(float64(msats) / multiplier)
				}
				r.PR = h.invoice(t, msats, time.Minute)
				r.Converted.Multiplier = multiplier
			})
		}
		for _, side := range []string{vasp.LockedReceiving, vasp.LockedSending} {
			at(2000)
			_, err := h.quote(t, l, side, 1000)
			wantStatus(t, err, http.StatusFailedDependency, vaspd.CodePayreqRequestFailed)
			if m := vaspd.AsError(err).Message; !strings.Contains(m, "look") {
				t.Fatalf("%s: message %q does not say to look the receiver up again", side, m)
			}
			for _, m := range []float64{1030, 900} {
				at(m)
				if _, err := h.quote(t, l, side, 1000); err != nil {
					t.Fatalf("%s: a multiplier of %v against the lookup's 1000: %v", side, m, err)
				}
			}
		}
	})
}

// TestQuoteReceiverFeeShownNotBounded: a receiver's fee (converted.fee)
// is its price, bounded only by its invoice: the lookup advertises no fee
// to hold it to (UMA's currencies carry an estimated multiplier alone),
// and a fixed fee is rightly a large share of a small payment. A fee of
// half the invoice is quoted, and shown: in receiverFeeMsats, and in the
// totals (receiver-locked, our user spends about twice; sender-locked,
// the payee is credited half). Deliberate: see the README's counterparty
// failures.
func TestQuoteReceiverFeeShownNotBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 1_000_000)
		l := h.lookup(t)
		withFee := func(fee int64) {
			h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
				msats := pr.Amount*1000 + fee
				if pr.SendingCurrency == "" { // sender-locked: msats asked
					msats = pr.Amount
					r.Converted.Amount = (msats - fee) / 1000
				}
				r.PR = h.invoice(t, msats, time.Minute)
				r.Converted.Multiplier, r.Converted.Fee = 1000, fee
			})
		}
		withFee(0)
		plainRecv, err := h.quote(t, l, vasp.LockedReceiving, 1000)
		if err != nil {
			t.Fatal(err)
		}
		plainSend, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		withFee(1_000_000) // the whole of 1000 cents at 1000 msats a cent
		q, err := h.quote(t, l, vasp.LockedReceiving, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if q.ReceiverFeeMsats != 1_000_000 || q.Msats != 2_000_000 || q.SendingAmount < 2*plainRecv.SendingAmount-1 {
			t.Errorf("receiver-locked with a fee of half the invoice: fee %d, invoice %d msats, sending %d (without the fee %d)",
				q.ReceiverFeeMsats, q.Msats, q.SendingAmount, plainRecv.SendingAmount)
		}
		half := plainSend.Msats / 2
		withFee(half)
		q, err = h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if q.ReceiverFeeMsats != half || q.SendingAmount != 1000 || q.ReceivingAmount != (plainSend.Msats-half)/1000 {
			t.Errorf("sender-locked with a fee of half the invoice: fee %d, sending %d, receiving %d (without the fee %d)",
				q.ReceiverFeeMsats, q.SendingAmount, q.ReceivingAmount, plainSend.ReceivingAmount)
		}
	})
}
