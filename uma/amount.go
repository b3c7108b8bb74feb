package uma

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Amount math (UMAD-05, uma-protocol.md §3.2).
//
// The wire multiplier is a float: msats per smallest unit of the currency.
// We never compute with it as a float. It is turned into the exact decimal
// it was written as (the shortest decimal that round-trips, e.g. 22883.56,
// not 22883.5599999999976716935634613037109375) and all arithmetic is
// exact big.Rat, rounded once at the end, half away from zero (Go
// math.Round, JS Math.round and Kotlin agree on it; Python floors the
// sender-locked case, a ±1 difference peers tolerate).
//
//	receiver-locked ("N.CODE"): invoiceMsats = round(N × multiplier + fee)
//	sender-locked   ("N" msats): invoiceMsats = N; converted = round((N − fee) / multiplier)
//
// Results that do not fit int64 are AMOUNT_OUT_OF_RANGE errors.

// multiplierRat converts a wire multiplier to an exact rational.
func multiplierRat(m float64) (*big.Rat, error) {
	if !(m > 0) || math.IsInf(m, 0) {
		return nil, Errorf(CodeInvalidCurrency, "multiplier must be positive and finite")
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(m, 'g', -1, 64))
	if !ok {
		return nil, Errorf(CodeInvalidCurrency, "invalid multiplier")
	}
	return r, nil
}

// roundRat rounds x half away from zero into an int64.
func roundRat(x *big.Rat) (int64, error) {
	num, den := x.Num(), x.Denom()
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	// |2r| >= den ⇒ round away from zero.
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if r2.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return 0, Errorf(CodeAmountOutOfRange, "amount does not fit in int64")
	}
	return q.Int64(), nil
}

// InvoiceMsatsForAmount is the receiver-locked invoice amount for amount
// smallest units of a currency: round(amount × multiplier + feeMsats).
func InvoiceMsatsForAmount(amount int64, multiplier float64, feeMsats int64) (int64, error) {
	if amount < 0 || feeMsats < 0 {
		return 0, Errorf(CodeAmountOutOfRange, "amount and fee must not be negative")
	}
	m, err := multiplierRat(multiplier)
	if err != nil {
		return 0, err
	}
	x := new(big.Rat).Mul(new(big.Rat).SetInt64(amount), m)
	x.Add(x, new(big.Rat).SetInt64(feeMsats))
	return roundRat(x)
}

// ConvertedAmountForMsats is the sender-locked amount the payee receives:
// round((msats − feeMsats) / multiplier). msats below the fee is
// AMOUNT_OUT_OF_RANGE.
func ConvertedAmountForMsats(msats int64, multiplier float64, feeMsats int64) (int64, error) {
	if msats < 0 || feeMsats < 0 {
		return 0, Errorf(CodeAmountOutOfRange, "amount and fee must not be negative")
	}
	if msats < feeMsats {
		return 0, Errorf(CodeAmountOutOfRange, "amount %d msats does not cover the fee of %d msats", msats, feeMsats)
	}
	m, err := multiplierRat(multiplier)
	if err != nil {
		return 0, err
	}
	x := new(big.Rat).SetInt64(msats - feeMsats)
	x.Quo(x, m)
	return roundRat(x)
}

// Quote is what a receiver commits to for a PayRequest.
type Quote struct {
	InvoiceMsats int64      // amount of the BOLT11 invoice
	Converted    *Converted // nil for a plain LNURL request (no conversion)
}

// QuotePayRequest validates r against what we advertised in our
// LnurlpResponse (currencies, minSendable/maxSendable in msats) and computes
// the invoice amount and conversion with our fee (msats):
//
//   - a non-Lightning settlement, an unknown "convert" currency, or an amount
//     suffix other than "convert" is INVALID_CURRENCY;
//   - receiver-locked amounts must lie in the currency's convertible range,
//     sender-locked msats in [minSendable, maxSendable] (AMOUNT_OUT_OF_RANGE);
//   - a request without "convert" is plain LNURL: msats, no conversion.
func QuotePayRequest(r *PayRequest, currencies []Currency, minSendable, maxSendable, feeMsats int64) (*Quote, error) {
	if !r.Settlement.IsLightning() {
		return nil, Errorf(CodeInvalidCurrency, "only Lightning/BTC settlement is supported")
	}
	if r.ReceivingCurrency == "" {
		if r.SendingCurrency != "" {
			return nil, Errorf(CodeInvalidCurrency, "amount in %s needs convert", truncate(r.SendingCurrency))
		}
		if r.Amount < minSendable || r.Amount > maxSendable {
			return nil, Errorf(CodeAmountOutOfRange, "amount %d msats is outside [%d, %d]", r.Amount, minSendable, maxSendable)
		}
		return &Quote{InvoiceMsats: r.Amount}, nil
	}
	cur, ok := FindCurrency(currencies, r.ReceivingCurrency)
	if !ok {
		return nil, Errorf(CodeInvalidCurrency, "currency %q is not offered", truncate(r.ReceivingCurrency))
	}
	if err := cur.Validate(); err != nil {
		return nil, err
	}
	conv := &Converted{CurrencyCode: cur.Code, Decimals: cur.Decimals, Multiplier: cur.Multiplier, Fee: feeMsats}
	if r.SendingCurrency != "" {
		if r.SendingCurrency != r.ReceivingCurrency {
			return nil, Errorf(CodeInvalidCurrency, "amount currency %q differs from convert %q", truncate(r.SendingCurrency), truncate(r.ReceivingCurrency))
		}
		if r.Amount < cur.Convertible.Min || r.Amount > cur.Convertible.Max {
			return nil, Errorf(CodeAmountOutOfRange, "amount %d is outside [%d, %d] %s", r.Amount, cur.Convertible.Min, cur.Convertible.Max, cur.Code)
		}
		msats, err := InvoiceMsatsForAmount(r.Amount, cur.Multiplier, feeMsats)
		if err != nil {
			return nil, err
		}
		conv.Amount = r.Amount
		return &Quote{InvoiceMsats: msats, Converted: conv}, nil
	}
	if r.Amount < minSendable || r.Amount > maxSendable {
		return nil, Errorf(CodeAmountOutOfRange, "amount %d msats is outside [%d, %d]", r.Amount, minSendable, maxSendable)
	}
	amt, err := ConvertedAmountForMsats(r.Amount, cur.Multiplier, feeMsats)
	if err != nil {
		return nil, err
	}
	conv.Amount = amt
	return &Quote{InvoiceMsats: r.Amount, Converted: conv}, nil
}

// FormatAmount renders smallest units with decimals digits: (1234, 2) → "12.34".
func FormatAmount(amount int64, decimals int) string {
	neg := amount < 0
	s := strconv.FormatUint(uint64(amount), 10)
	if neg {
		s = strconv.FormatUint(uint64(-amount), 10) // MinInt64 wraps to itself as uint64: correct digits
	}
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
