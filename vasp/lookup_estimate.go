package vasp

import (
	"context"
	"errors"
	"math"
	"math/big"

	"github.com/vaspd/vaspd/rates"
)

// EstimatedExchangeRates are what a lookup tells the platform as the
// estimatedExchangeRate of each currency the receiver offers
// (l.Response.Currencies, in order): UMAaaS's "estimated exchange rate
// from the sender's currency to this currency", in the unit of a quote's
// exchangeRate: smallest units of the sending user's default currency (its
// first preferred one, else the rates file's first) per smallest unit of
// the offered one, our spread included and the fees not. That is the
// receiver's multiplier (msats per unit it offers) over the msats one unit
// of the sender's currency sends. Not locked: a quote prices afresh. Each
// is 0 when it cannot be told (the rates stale, which a quote refuses:
// rates.FreshRate; the sender's currency no longer in the rates file; or
// past float64: a huge multiplier, or a tiny one rounding to 0), which
// the API leaves out (UMAaaS's rate is > 0).
func (s *Service) EstimatedExchangeRates(ctx context.Context, l Lookup) ([]float64, error) {
	out := make([]float64, len(l.Response.Currencies))
	u, err := s.opt.Users.ByID(ctx, l.UserID)
	if err != nil {
		return nil, err
	}
	var code string
	if len(u.Currencies) > 0 {
		code = u.Currencies[0]
	} else {
		all, err := s.opt.Rates.Currencies(ctx)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return out, nil
		}
		code = all[0].Code
	}
	// The rate a quote would price with (quote.go): none while the rates
	// are stale, when no quote is priced, so no estimate from stale ones.
	rate, err := rates.FreshRate(ctx, s.opt.Rates, code)
	if errors.Is(err, rates.ErrStale) {
		return out, nil
	}
	if err != nil {
		s.log.Warn("lookup: the sender's currency has no rate; no estimated exchange rate", "currency", code, "err", err)
		return out, nil
	}
	send := rate.SendMultiplier()
	if send.Sign() <= 0 {
		return out, nil
	}
	for i, c := range l.Response.Currencies {
		m := new(big.Rat)
		if m.SetFloat64(c.Multiplier) == nil || m.Sign() <= 0 {
			continue
		}
		// A huge multiplier (any finite one is valid) over a currency
		// worth less than a msat a unit is past float64: +Inf, which no
		// JSON encodes. It cannot be told, as the doc says.
		if f, _ := m.Quo(m, send).Float64(); !math.IsInf(f, 0) {
			out[i] = f
		}
	}
	return out, nil
}
