package vasp

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/uma"
)

// propRate is a rate of a currency with decimals, msats per smallest unit
// per, spread and fixed fee (smallest units), or nil if NewRate refuses it.
func propRate(t *testing.T, code string, decimals int, per *big.Rat, spread, fee int64) *rates.Rate {
	t.Helper()
	r, err := rates.NewRate(rates.Currency{Code: code, Decimals: decimals}, per.RatString(), spread, fee, 0, 0, time.Time{})
	if err != nil {
		return nil
	}
	return &r
}

// randomPer is msats per smallest unit of a currency of decimals whose
// major unit is worth between about 1e-6 and 1e6 US dollars at a bitcoin
// price of about 100 000 dollars: from far below one msat (8 decimals of
// a cheap currency) to far above a sat (0 decimals of a dear one).
func randomPer(rng *rand.Rand, decimals int) *big.Rat {
	// 1 USD ≈ 1e6 msats; one major unit is 10^e USD, e in [-6, 6].
	e := rng.IntN(13) - 6
	num := big.NewInt(int64(rng.IntN(9_000_000) + 1_000_000)) // 7 digits of price
	r := new(big.Rat).SetInt(num)
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e+6-decimals))), nil))
	if e+6-decimals >= 0 {
		r.Mul(r, scale)
	} else {
		r.Quo(r, scale)
	}
	return r.Quo(r, big.NewRat(1_000_000, 1)) // the 7 digits are a mantissa around 1
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestPriceConversionAcceptsOurOwnReceiver: whatever the two currencies
// (0 to 8 decimals, a smallest unit worth far less than a msat to far
// more than a sat), spreads and fixed fees, our sender accepts the
// conversion our own receiver answers a payreq with (rates'
// ReceiveForMsats and ReceiveForAmount, its UMAMultiplier and fee on the
// wire), on both locked sides, and prices it so that our user is never
// debited less than what leaves the node is worth at our sending rate,
// our fee on top; it never credits the payee (as shown) other than what
// the receiver said.
func TestPriceConversionAcceptsOurOwnReceiver(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	lookup := &uma.LnurlpResponse{MinSendable: 1, MaxSendable: math.MaxInt64}
	checked := 0
	for i := 0; i < 40_000; i++ {
		sd, rd := rng.IntN(9), rng.IntN(9)
		send := propRate(t, "AAA", sd, randomPer(rng, sd), rng.Int64N(rates.MaxSpreadBps+1), rng.Int64N(3)*rng.Int64N(1000))
		recv := propRate(t, "BBB", rd, randomPer(rng, rd), rng.Int64N(rates.MaxSpreadBps+1), rng.Int64N(3)*rng.Int64N(1000))
		if send == nil || recv == nil {
			continue
		}
		theirs := uma.Currency{Code: "BBB", Decimals: rd, Multiplier: recv.UMAMultiplier(), Convertible: uma.Convertible{Min: 1, Max: 1 << 53}}
		if theirs.Validate() != nil {
			continue
		}
		amount := rng.Int64N(1 << uint(rng.IntN(52)+1))
		if rng.IntN(2) == 0 {
			// Sender-locked: our user spends amount of AAA.
			in := QuoteRequest{LockedSide: LockedSending, Amount: amount}
			sc, err := send.SendForAmount(amount)
			if err != nil {
				continue
			}
			rc, err := recv.ReceiveForMsats(sc.Msats)
			if err != nil {
				continue
			}
			conv := &uma.Converted{Amount: rc.Amount, CurrencyCode: "BBB", Decimals: rd, Multiplier: recv.UMAMultiplier(), Fee: rc.FeeMsats}
			sending, fee, err := priceConversion(in, *send, sc, theirs, conv, sc.Msats, lookup)
			if err != nil {
				t.Fatalf("sender-locked %d AAA (decimals %d, %s) → %d msats → our receiver's %d BBB (decimals %d, %s, fee %d msats): refused: %v",
					amount, sd, send, sc.Msats, rc.Amount, rd, recv, rc.FeeMsats, err)
			}
			checkDebitCovers(t, *send, sending, fee, sc.Msats)
			checked++
			continue
		}
		// Receiver-locked: the payee gets amount of BBB.
		in := QuoteRequest{LockedSide: LockedReceiving, Amount: amount}
		rc, err := recv.ReceiveForAmount(amount)
		if err != nil {
			continue
		}
		conv := &uma.Converted{Amount: amount, CurrencyCode: "BBB", Decimals: rd, Multiplier: recv.UMAMultiplier(), Fee: rc.FeeMsats}
		sending, fee, err := priceConversion(in, *send, rates.Conversion{}, theirs, conv, rc.Msats, lookup)
		if err != nil {
			if _, serr := send.SendForMsats(rc.Msats); serr != nil {
				continue // past int64 in AAA: refused, rightly
			}
			t.Fatalf("receiver-locked %d BBB (decimals %d, %s) → our receiver's invoice of %d msats (fee %d): refused: %v",
				amount, rd, recv, rc.Msats, rc.FeeMsats, err)
		}
		checkDebitCovers(t, *send, sending, fee, rc.Msats)
		checked++
	}
	if checked < 10_000 {
		t.Fatalf("only %d cases priced: the generator misses", checked)
	}
}

// checkDebitCovers: what our user is debited (sending, fee included) less
// our fee is worth, at our sending multiplier, at least the msats that
// leave the node.
func checkDebitCovers(t *testing.T, send rates.Rate, sending, fee, msats int64) {
	t.Helper()
	if fee != send.FixedFee || sending <= fee {
		t.Fatalf("sending %d with fee %d; want fee %d below sending", sending, fee, send.FixedFee)
	}
	worth := new(big.Rat).Mul(send.SendMultiplier(), new(big.Rat).SetInt64(sending-fee))
	if worth.Cmp(new(big.Rat).SetInt64(msats)) < 0 {
		t.Fatalf("debited %d (fee %d) worth %s msats at %s, less than the %d msats paid out", sending, fee, worth.FloatString(3), send, msats)
	}
}

// FuzzPriceConversion: whatever a receiver answers (amount, multiplier,
// fee, invoice amount), priceConversion does not panic, and a conversion
// it accepts debits our user, our fee excluded, at least what the invoice
// takes from the node at our sending rate, credits the payee something,
// and (sender-locked) pays exactly the msats our user's amount buys.
func FuzzPriceConversion(f *testing.F) {
	f.Add(true, int64(1000), int64(29), 34150.0, int64(2000), int64(1_000_000), 34150.0, int64(50), int64(1))
	f.Add(false, int64(1000), int64(1000), 34150.0, int64(2000), int64(34_152_000), 34150.0, int64(0), int64(0))
	f.Add(false, int64(1), int64(1), 1e-9, int64(0), int64(1), 1e-9, int64(5000), int64(0))
	f.Add(true, int64(9e15), int64(9e15), 1e300, int64(0), int64(9e15), 1e300, int64(1), int64(7))
	f.Fuzz(func(t *testing.T, sending bool, amount, convAmount int64, mult float64, fee, invMsats int64, lookupMult float64, spread, fixed int64) {
		if spread < 0 || spread > rates.MaxSpreadBps || fixed < 0 || fixed > 1_000_000 || invMsats <= 0 || amount <= 0 {
			return
		}
		send := propRate(t, "AAA", 2, big.NewRat(10_000, 7), spread, fixed)
		if send == nil {
			t.Fatal("rate refused")
		}
		theirs := uma.Currency{Code: "BBB", Decimals: 2, Multiplier: lookupMult, Convertible: uma.Convertible{Min: 0, Max: math.MaxInt64}}
		if theirs.Validate() != nil {
			return
		}
		lookup := &uma.LnurlpResponse{MinSendable: 1, MaxSendable: math.MaxInt64}
		conv := &uma.Converted{Amount: convAmount, CurrencyCode: "BBB", Decimals: 2, Multiplier: mult, Fee: fee}
		in := QuoteRequest{LockedSide: LockedReceiving, Amount: amount}
		var sc rates.Conversion
		if sending {
			in.LockedSide = LockedSending
			var err error
			if sc, err = send.SendForAmount(amount); err != nil {
				return
			}
		}
		got, gotFee, err := priceConversion(in, *send, sc, theirs, conv, invMsats, lookup)
		if err != nil {
			return
		}
		if sending && invMsats != sc.Msats {
			t.Fatalf("sender-locked: accepted an invoice of %d msats for %d bought", invMsats, sc.Msats)
		}
		if conv.Amount <= 0 {
			t.Fatalf("accepted a conversion crediting the payee %d", conv.Amount)
		}
		checkDebitCovers(t, *send, got, gotFee, invMsats)
	})
}
