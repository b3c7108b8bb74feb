package vasp_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A currency code is what the platform quotes in, what a quote and its
// payment are recorded and listed under: a receiver's code that is no
// currency code (a NUL in it, which PostgreSQL refuses in text; invalid
// UTF-8; lower case, which the platform's quote could never name; any
// length) is not offered, and a quote naming it is the platform's 400,
// never a 500 on recording it.
func TestLookupCurrencyCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		eur := uma.Currency{Code: "EUR", Decimals: 2, Multiplier: 1000, Convertible: uma.Convertible{Min: 1, Max: 1e9}}
		codes := []string{"E\x00R", "E\xffR", "eur", "E R", strings.Repeat("E", 5000), "€"}
		h.lnurlp = func(r *uma.LnurlpResponse) {
			r.Currencies = nil
			for _, code := range codes {
				c := eur
				c.Code = code
				r.Currencies = append(r.Currencies, c)
			}
			r.Currencies = append(r.Currencies, eur)
		}
		l := h.lookup(t)
		if len(l.Response.Currencies) != 1 || l.Response.Currencies[0] != eur {
			t.Fatalf("currencies offered: %+v", l.Response.Currencies)
		}
		for _, code := range codes {
			h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.Converted.CurrencyCode = code })
			_, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: code,
				LockedSide: vasp.LockedSending, Amount: 1000})
			wantStatus(t, err, 400, vaspd.CodeInvalidInput)
		}
		h.payreq = h.reply(nil)
		if _, err := h.quote(t, l, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
	})
}
