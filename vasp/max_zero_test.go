package vasp_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver's max of 0 (convertible.max, or maxSendable in msats) is a
// bound, as UMA reads it (min <= n <= max, 0 <= min <= max: the SDKs'
// validation, docs/uma-protocol.md §3.3): it takes no amount above 0, so
// none is quoted, and no payreq sent. Our sender read it as no bound for
// an UMA receiver (and as a bound for a plain LUD-21 one).
func TestMaxZeroIsABoundForTheSender(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*uma.LnurlpResponse)
		side   string
		amount int64
	}{
		{"convertible max 0, receiving locked", func(r *uma.LnurlpResponse) { r.Currencies[0].Convertible = uma.Convertible{} },
			vasp.LockedReceiving, 100},
		{"maxSendable 0, sending locked", func(r *uma.LnurlpResponse) { r.MinSendable, r.MaxSendable = 0, 0 },
			vasp.LockedSending, 1000},
		// The invoice the receiver's conversion makes is bounded by the
		// msats range too (conversion.go).
		{"maxSendable 0, receiving locked", func(r *uma.LnurlpResponse) { r.MinSendable, r.MaxSendable = 0, 0 },
			vasp.LockedReceiving, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				h := newHostile(t, db)
				h.lnurlp = tc.edit
				h.fund(t, 100_000)
				var payreqs atomic.Int64
				reply := h.payreq
				h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) { payreqs.Add(1); reply(rw, pr) }
				_, err := h.quote(t, h.lookup(t), tc.side, tc.amount)
				wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
				if n := payreqs.Load(); n != 0 && tc.name != "maxSendable 0, receiving locked" {
					t.Fatalf("%d payreqs sent", n)
				}
			})
		})
	}
}

// Our rates file's max of 0 (no bound of ours) is advertised as 2^53
// smallest units, what a JSON number holds exactly: a payreq above what
// we advertised is refused, in the currency or in msats converting past it.
// (The min advertised is 10^9 units, the 1 sat a payment carries at least:
// a unit costs a millionth of a msat.)
func TestMaxZeroRateBoundsPayRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		cfg := rates.Config{Currencies: []rates.CurrencyConfig{{Code: "EUR", Decimals: 8, MsatsPerUnit: "1/1000000"}}}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Rates = p })
		for _, tc := range []struct {
			name     string
			amount   int64
			currency string
		}{
			{"in the currency", 1<<53 + 1, "EUR"},
			{"in msats", (1<<53 + 1_000_000) / 1_000_000, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				pr.Amount, pr.SendingCurrency = tc.amount, tc.currency
				if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
					t.Fatal(err)
				}
				_, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, uma.CodeAmountOutOfRange)
				// Refused for the range advertised, not only for what
				// the payee's balance may hold.
				if want := "outside [1000000000, 9007199254740992]"; !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, want %q", err, want)
				}
			})
		}
	})
}

// A payment request asks no more than a payreq for it may pay: with our
// rates file's max of 0 (advertised as 2^53 smallest units), one for more
// is refused AMOUNT_OUT_OF_RANGE, as its payreq would be, and nothing is
// kept. It was made: its range was read from the rates file as unbounded,
// and the msats it converts to (a currency of 8 decimals at a millionth of
// a msat a unit) are within maxSendable.
func TestMaxZeroRateBoundsPaymentRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		cfg := rates.Config{Currencies: []rates.CurrencyConfig{{Code: "EUR", Decimals: 8, MsatsPerUnit: "1/1000000"}}}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Rates = p })
		_, err = s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 1<<53 + 1, Currency: "EUR"})
		if e := vaspd.AsError(err); err == nil || e.Status != http.StatusBadRequest || e.Code != vaspd.CodeAmountOutOfRange ||
			!strings.Contains(e.Message, "1000000000 to 9007199254740992") {
			t.Fatalf("got %v, want 400 %s", err, vaspd.CodeAmountOutOfRange)
		}
		if n := countRows(t, db, "payment_requests"); n != 0 {
			t.Fatalf("%d payment requests kept", n)
		}
		// The bound itself is asked.
		if _, err := s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 1 << 53, Currency: "EUR"}); err != nil {
			t.Fatalf("a request for the max advertised: %v", err)
		}
	})
}
