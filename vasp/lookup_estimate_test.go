package vasp_test

import (
	"encoding/json"
	"math"
	"testing"

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
