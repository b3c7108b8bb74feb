package vasp_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A currency a user names but the rates lack (gone from the rates file) is
// left out of every lookup; it is logged as a warning when first met, then
// hourly, not at each of a busy user's lookups.
func TestCurrencyWithoutRateLoggedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		bob := w.bob
		bob.Currencies = []string{"EUR", "USD"}
		w.users[bob.UserID] = bob
		p, err := rates.NewConfigProvider(rates.Config{Currencies: []rates.CurrencyConfig{{Code: "EUR", Decimals: 2, BTCPrice: "92000"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		s := w.service(t, func(o *vasp.Options) { o.Rates = p; debugLog(&logs)(o) })
		lookup := func() {
			t.Helper()
			resp, err := s.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now()), "bob")
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Currencies) != 1 || resp.Currencies[0].Code != "EUR" {
				t.Fatalf("currencies %+v, want EUR alone", resp.Currencies)
			}
		}
		const msg = "currency without a rate skipped"
		for range 5 {
			lookup()
			w.clock.Advance(time.Minute)
		}
		if n := logs.count(t, slog.LevelWarn, msg); n != 1 {
			t.Fatalf("5 lookups in 5 minutes: %d warnings, want 1:\n%s", n, logs.b.String())
		}
		if n := logs.count(t, slog.LevelDebug, msg); n != 5 {
			t.Fatalf("%d of 5 lookups logged the skipped currency", n)
		}
		w.clock.Advance(time.Hour)
		lookup()
		if n := logs.count(t, slog.LevelWarn, msg); n != 2 {
			t.Fatalf("an hour later: %d warnings in all, want 2", n)
		}
	})
}
