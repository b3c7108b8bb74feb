package api_test

import (
	"net/url"
	"testing"

	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// A plain Lightning Address wallet is offered the currencies $bob receives
// in (LUD-21), priced as for UMA, and may send an amount in one of them
// (amount=N.CODE&convert=CODE): bob is to be credited exactly that amount,
// the invoice asking its price in msats.
func TestPlainLightningAddressCurrencies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		status, raw, _ := f.call(t, "GET", "/.well-known/lnurlp/bob", nil, "")
		if status != 200 {
			t.Fatalf("lnurlp: %d %s", status, raw)
		}
		resp, err := uma.ParseLnurlpResponse(raw)
		if err != nil || resp.IsUMA() {
			t.Fatalf("plain lnurlp response (%v): %s", err, raw)
		}
		if len(resp.Currencies) != 1 {
			t.Fatalf("currencies %+v, want bob's EUR (LUD-21): %s", resp.Currencies, raw)
		}
		eur := resp.Currencies[0]
		if eur.Code != "EUR" || eur.Decimals != 2 || eur.Multiplier <= 0 || eur.Convertible.Min < 1 || eur.Convertible.Max < eur.Convertible.Min {
			t.Fatalf("EUR offered as %+v", eur)
		}
		cb, err := url.Parse(resp.Callback)
		if err != nil {
			t.Fatal(err)
		}
		status, raw, m := f.call(t, "GET", cb.Path+"?amount=250.EUR&convert=EUR", nil, "")
		if status != 200 {
			t.Fatalf("payreq in EUR: %d %s", status, raw)
		}
		conv, _ := m["converted"].(map[string]any)
		if conv["currencyCode"] != "EUR" || conv["amount"] != float64(250) {
			t.Fatalf("converted %v, want 250 EUR: %s", conv, raw)
		}
		inv, err := bolt11.Decode(m["pr"].(string), "regtest")
		if err != nil {
			t.Fatal(err)
		}
		mult, fee := conv["multiplier"].(float64), conv["fee"].(float64)
		if want := int64(250*mult + fee); inv.AmountMsat < want-1 || inv.AmountMsat > want+1 {
			t.Fatalf("invoice of %d msats for 250 EUR cents at %v msats each + %v fee", inv.AmountMsat, mult, fee)
		}
	})
}
