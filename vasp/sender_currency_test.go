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

// A receiver's currency name and symbol are display text the platform is
// shown with every quote, and every OUTGOING transaction (listing, webhook)
// carries: they are cut to a bound, as the payee's name is, never kept at
// the length of the whole lookup answer.
func TestLookupCurrencyLabelsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		h.lnurlp = func(r *uma.LnurlpResponse) {
			r.Currencies[0].Name = strings.Repeat("Euro", 100_000)
			r.Currencies[0].Symbol = strings.Repeat("€", 100_000)
		}
		short := func(what, s string) {
			t.Helper()
			if len(s) > 300 || !strings.HasPrefix(s, "Euro") && !strings.HasPrefix(s, "€") {
				t.Fatalf("%s kept as %d bytes (%.20q…)", what, len(s), s)
			}
		}
		l := h.lookup(t)
		short("lookup's name", l.Response.Currencies[0].Name)
		short("lookup's symbol", l.Response.Currencies[0].Symbol)
		q, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		short("quote's name", q.ReceivingCurrencyInfo.Name)
		short("quote's symbol", q.ReceivingCurrencyInfo.Symbol)
		tr, err := h.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if tr, err = h.s.GetTransaction(t.Context(), tr.ID); err != nil || tr.Details.ReceivingCurrency == nil {
			t.Fatalf("transaction %+v: %v", tr, err)
		}
		short("transaction's name", tr.Details.ReceivingCurrency.Name)
		short("transaction's symbol", tr.Details.ReceivingCurrency.Symbol)
	})
}
