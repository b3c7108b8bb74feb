package uma

import (
	"math"
	"math/big"
	"testing"
	"testing/quick"
)

// TestAmountRoundTripProperty: for any msats, fee and multiplier (from a
// denormal to near the float64 maximum), the sender-locked conversion and
// the receiver-locked invoice of what it gives either fail cleanly
// (AMOUNT_OUT_OF_RANGE past int64) or agree within half a smallest unit's
// msats and one msat: converted = round((msats − fee) / m) and
// invoice(converted) = round(converted × m + fee), both of the multiplier's
// shortest decimal, never of its binary float.
func TestAmountRoundTripProperty(t *testing.T) {
	mults := []float64{math.SmallestNonzeroFloat64, 1e-12, 0.0123, 2.466, 1000, 6666.666666666667, 34150, 1e9, 1e18, math.MaxFloat64}
	f := func(msats, fee int64, pick uint8, scale float64) bool {
		msats, fee = abs64(msats), abs64(fee)%(msats/2+1)
		m := mults[int(pick)%len(mults)]
		if s := math.Abs(scale); s > 0 && !math.IsInf(s*m, 0) && s*m > 0 && pick&0x80 != 0 {
			m *= s
		}
		amount, err := ConvertedAmountForMsats(msats, m, fee)
		if err != nil {
			return AsError(err).Code == CodeAmountOutOfRange
		}
		if amount < 0 {
			t.Logf("%d msats, fee %d, multiplier %v: converted %d", msats, fee, m, amount)
			return false
		}
		inv, err := InvoiceMsatsForAmount(amount, m, fee)
		if err != nil {
			return AsError(err).Code == CodeAmountOutOfRange
		}
		mr, _ := new(big.Rat).SetString(big.NewFloat(m).Text('g', -1))
		// |inv − msats| ≤ m/2 + 1
		d := new(big.Rat).SetInt64(inv - msats)
		d.Abs(d)
		bound := new(big.Rat).Add(new(big.Rat).Quo(mr, big.NewRat(2, 1)), big.NewRat(1, 1))
		if d.Cmp(bound) > 0 {
			t.Logf("%d msats, fee %d, multiplier %v: converted %d, invoice again %d", msats, fee, m, amount, inv)
			return false
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 50_000}); err != nil {
		t.Fatal(err)
	}
}

func abs64(n int64) int64 {
	if n < 0 {
		if n == math.MinInt64 {
			return math.MaxInt64
		}
		return -n
	}
	return n
}
