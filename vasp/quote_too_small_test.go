package vasp_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A sender-locked amount too small to buy one smallest unit of the
// receiver's currency is our user's amount out of range (400
// AMOUNT_OUT_OF_RANGE), not the receiver failing (424): refused before
// the receiver is asked when its lookup's rate says so, and after its
// answer when its own rate and fee leave the payee nothing. A receiver
// crediting nothing where its own rate gives something is still its
// failure.
func TestQuoteSenderLockedBuysNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		var payreqs atomic.Int64
		// The receiver converts at its lookup's multiplier, with fee msats
		// of its own, honestly (round down); edit changes its answer.
		var multiplier float64 = 1000
		reply := func(fee int64, edit func(*uma.Converted)) {
			h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
				payreqs.Add(1)
				r.Converted.Multiplier, r.Converted.Fee = multiplier, fee
				r.Converted.Amount = int64(float64(pr.Amount-fee) / multiplier)
				if edit != nil {
					edit(r.Converted)
				}
			})
		}
		reply(0, nil)
		q, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		msats := q.Msats // what 1000 USD cents are

		t.Run("at the lookup's rate", func(t *testing.T) {
			// 1000 USD cents buy half a unit at the advertised rate, and
			// less than one at a rate 10 % better.
			multiplier = float64(2 * msats)
			h.lnurlp = func(r *uma.LnurlpResponse) { r.Currencies[0].Multiplier = multiplier }
			defer func() { h.lnurlp, multiplier = nil, 1000 }()
			l := h.lookup(t)
			reply(0, nil)
			before := payreqs.Load()
			_, err := h.quote(t, l, vasp.LockedSending, 1000)
			wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
			if n := payreqs.Load() - before; n != 0 {
				t.Fatalf("the receiver was sent %d payreqs", n)
			}
		})
		t.Run("at the receiver's rate and fee", func(t *testing.T) {
			// Its fee leaves less than a unit's msats of the invoice: 0.4
			// unit (0 rounded, or floored), 0.999 (1 rounded, 0 floored),
			// or nothing (the fee is the whole invoice).
			for _, left := range []int64{400, 999, 0} {
				reply(msats-left, nil)
				_, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
				wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
			}
		})
		t.Run("the receiver credits nothing for something", func(t *testing.T) {
			reply(0, func(c *uma.Converted) { c.Amount = 0 })
			_, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
			wantStatus(t, err, http.StatusFailedDependency, vaspd.CodePayreqRequestFailed)
		})
	})
}

// So for a plain receiver quoted in a LUD-21 currency: a sender-locked
// amount buying less than one unit at its advertised rate is 400
// AMOUNT_OUT_OF_RANGE, its callback not asked.
func TestLightningAddressSenderLockedBuysNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.fund(t, 100_000)
		a.edit(func(a *lnaddr) {
			a.lnurlp["currencies"] = []any{map[string]any{"code": "EUR", "multiplier": 1e9, "decimals": 2,
				"convertible": map[string]any{"min": 1, "max": 100_000}}}
		})
		l := a.lookupPlain(t)
		asked := len(a.asked)
		_, err := a.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
			LockedSide: vasp.LockedSending, Amount: 1000})
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
		if n := len(a.asked) - asked; n != 0 {
			t.Fatalf("the callback was asked %d times", n)
		}
	})
}

// A sender-locked amount that buys less than the receiver's least
// (convertible.min, advertised with its lookup) at the lookup's rate,
// and at a rate better for our user by MaxReceiverRateChangeBps too, is
// our user's amount out of range (400 AMOUNT_OUT_OF_RANGE), refused
// before the receiver is asked: it would refuse it, a payreq and its
// platform's approval spent. One that a move of the rate within that
// could bring to the least is still asked.
func TestQuoteSenderLockedBelowReceiverMin(t *testing.T) {
	senderLockedAgainstConvertible(t, func(c *uma.Currency, min int64) { c.Convertible.Min = min },
		func(units int64) []convertibleCase {
			return []convertibleCase{
				{"far below", 2 * units, false},
				{"below by more than the margin", units*(bpsScale+vasp.MaxReceiverRateChangeBps)/bpsScale + 2, false},
				{"within the margin", units + 1, true},
				{"at the least", units, true},
			}
		})
}

// So is one that buys more than the receiver's most (convertible.max) at
// the lookup's rate, and at a rate worse for our user by
// MaxReceiverRateChangeBps too: the receiver would refuse it. One a move
// of the rate within that could bring to the most is still asked. A max
// of 0 is a bound as any (TestMaxZeroIsABoundForTheSender).
func TestQuoteSenderLockedAboveReceiverMax(t *testing.T) {
	senderLockedAgainstConvertible(t, func(c *uma.Currency, max int64) {
		c.Convertible.Min, c.Convertible.Max = min(c.Convertible.Min, max), max // 0 <= min <= max
	},
		func(units int64) []convertibleCase {
			return []convertibleCase{
				{"far above", units / 2, false},
				{"above by more than the margin", units*bpsScale/(bpsScale+vasp.MaxReceiverRateChangeBps) - 2, false},
				{"within the margin", units - 1, true},
				{"at the most", units, true},
				{"max 0", 0, false},
			}
		})
}

// convertibleCase is a bound of the receiver's convertible range and
// whether a sender-locked amount buying some units against it is asked.
type convertibleCase struct {
	name  string
	bound int64
	asked bool
}

// senderLockedAgainstConvertible quotes 1000 USD cents to a receiver
// whose lookup's EUR range is set (the bound) by each case of cases,
// given the EUR cents the amount buys at its rate: one not asked is 400
// AMOUNT_OUT_OF_RANGE, no payreq sent.
func senderLockedAgainstConvertible(t *testing.T, set func(c *uma.Currency, bound int64), cases func(units int64) []convertibleCase) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		var payreqs atomic.Int64
		h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
			payreqs.Add(1)
			r.Converted.Multiplier, r.Converted.Fee = 1000, 0
			r.Converted.Amount = pr.Amount / 1000
		})
		q, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		units := q.Msats / 1000 // what 1000 USD cents buy at 1000 msats per EUR cent
		for _, tc := range cases(units) {
			t.Run(tc.name, func(t *testing.T) {
				h.lnurlp = func(r *uma.LnurlpResponse) { set(&r.Currencies[0], tc.bound) }
				defer func() { h.lnurlp = nil }()
				l := h.lookup(t)
				before := payreqs.Load()
				_, err := h.quote(t, l, vasp.LockedSending, 1000)
				if n := payreqs.Load() - before; (n != 0) != tc.asked {
					t.Fatalf("bound %d, %d units: the receiver was sent %d payreqs (err %v)", tc.bound, units, n, err)
				}
				if !tc.asked {
					wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
				}
			})
		}
	})
}

// bpsScale is one in basis points, as package vasp has it.
const bpsScale = 10_000
