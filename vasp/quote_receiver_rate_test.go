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
