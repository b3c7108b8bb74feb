package vasp_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver's multiplier is any finite positive number: over a sending
// currency worth less than a msat a unit (8 decimals of a dollar, say), a
// huge one made an estimate past float64, +Inf, which no JSON encodes:
// the lookup's answer was a 500. An estimate that cannot be told is 0.
func TestEstimatedExchangeRateHugeMultiplier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.lnurlp = func(r *uma.LnurlpResponse) {
			huge := r.Currencies[0]
			huge.Code, huge.Multiplier = "GBP", math.MaxFloat64
			r.Currencies = append(r.Currencies, huge)
		}
		l := h.lookup(t)
		cfg := rates.Config{Currencies: []rates.CurrencyConfig{
			{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 8, MsatsPerUnit: "1/100", SpreadBps: 50, Min: 1},
		}}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := h.w.service(t, func(o *vasp.Options) { o.Clock, o.Rates = vaspd.SystemClock{}, p })
		est, err := s.EstimatedExchangeRates(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(est); err != nil || len(est) != 2 {
			t.Fatalf("estimates %v: %v", est, err)
		}
		if est[0] <= 0 || est[1] != 0 {
			t.Fatalf("estimates %v, want EUR's and 0 for GBP", est)
		}
	})
}

// A lookup's estimatedExchangeRate is what a quote would use: with the
// rates stale, which no quote prices with (rates.ErrStale), there is no
// estimate (0, left out) rather than one from the stale rates.
func TestEstimatedExchangeRateStaleRates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		path := filepath.Join(t.TempDir(), "rates.yaml")
		if err := os.WriteFile(path, []byte("currencies:\n  - {code: USD, decimals: 2, btcPrice: '100000', spreadBps: 50, min: 1}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		clock := vaspd.NewFakeClock(fi.ModTime())
		p, err := rates.NewFileProvider(rates.FileOptions{Path: path, Setting: "rates-file", MaxAge: time.Hour, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		s := h.w.service(t, func(o *vasp.Options) { o.Rates = p })
		est, err := s.EstimatedExchangeRates(t.Context(), l)
		if err != nil || len(est) == 0 || est[0] <= 0 {
			t.Fatalf("fresh rates: estimates %v, %v", est, err)
		}
		clock.Advance(time.Hour + time.Second)
		if _, err := rates.FreshRate(t.Context(), p, "USD"); !errors.Is(err, rates.ErrStale) {
			t.Fatalf("FreshRate = %v, want stale", err)
		}
		est, err = s.EstimatedExchangeRates(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range est {
			if e != 0 {
				t.Fatalf("stale rates: estimate %d is %v, want none", i, e)
			}
		}
	})
}
