package interop

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"

	"github.com/vaspd/vaspd/uma"
)

// Amount math (§3): for the same PayRequest and rate, our receiver and an
// SDK receiver must invoice the same msats and state the same converted
// amount. The SDKs compute in float64 and round half up; we compute the
// exact decimal product of the multiplier as written and round half away
// from zero. They can differ only where the exact value is a tie (x.5) that
// float64 lands on the wrong side of — by one unit, which §8 says senders
// must tolerate. Everywhere else they must agree exactly.

type amountCase struct {
	multiplier float64
	fee        int64
	amount     int64 // cents (receiver-locked) or msats (sender-locked)
	msats      bool
}

func amountCases() []amountCase {
	rng := rand.New(rand.NewPCG(3, 17))
	multipliers := []float64{34150, 34150.5, 22883.56, 1000, 1, 0.5, 1234.567, 98765.4321, 7.25, 150000.123456}
	var out []amountCase
	for i := range 400 {
		c := amountCase{multiplier: multipliers[i%len(multipliers)], fee: int64(rng.IntN(5000)), msats: i%2 == 1}
		if c.msats {
			c.amount = c.fee + 1 + rng.Int64N(100_000_000_000)
		} else {
			c.amount = 1 + rng.Int64N(10_000_000)
		}
		out = append(out, c)
	}
	// Exact ties, where float64 may land on either side.
	return append(out,
		amountCase{multiplier: 22883.55, amount: 10}, amountCase{multiplier: 0.5, amount: 3},
		amountCase{multiplier: 34150.5, amount: 1, fee: 2000}, amountCase{multiplier: 1.15, amount: 10},
		amountCase{multiplier: 2, amount: 5, msats: true}, amountCase{multiplier: 0.4, amount: 1, msats: true},
		amountCase{multiplier: 2.2, amount: 2011, fee: 2000, msats: true},
	)
}

// ourQuote is our receiver's quote for c.
func ourQuote(t testing.TB, c amountCase) (invoiceMsats, converted int64) {
	t.Helper()
	r := &uma.PayRequest{Amount: c.amount, ReceivingCurrency: "USD"}
	if !c.msats {
		r.SendingCurrency = "USD"
	}
	cur := uma.Currency{Code: "USD", Name: "US Dollar", Symbol: "$", Multiplier: c.multiplier, Decimals: 2,
		Convertible: uma.Convertible{Min: 1, Max: 1 << 50}}
	q, err := uma.QuotePayRequest(r, []uma.Currency{cur}, 1, 1<<60, c.fee)
	if err != nil {
		t.Fatalf("QuotePayRequest(%+v): %v", c, err)
	}
	return q.InvoiceMsats, q.Converted.Amount
}

// isTie reports whether the exact value the rounding applies to is k + 1/2:
// amount × multiplier (receiver-locked) or (msats − fee) / multiplier.
func isTie(c amountCase) bool {
	m, ok := new(big.Rat).SetString(strconv.FormatFloat(c.multiplier, 'f', -1, 64))
	if !ok {
		panic(c.multiplier)
	}
	var x *big.Rat
	if c.msats {
		x = new(big.Rat).Quo(new(big.Rat).SetInt64(c.amount-c.fee), m)
	} else {
		x = new(big.Rat).Mul(new(big.Rat).SetInt64(c.amount), m)
	}
	twice := new(big.Rat).Mul(x, big.NewRat(2, 1))
	return twice.IsInt() && !x.IsInt()
}

// compareAmounts checks one SDK's numbers against ours.
func compareAmounts(t *testing.T, who string, c amountCase, sdkMsats, sdkConverted int64, ties *int) {
	t.Helper()
	msats, converted := ourQuote(t, c)
	if msats == sdkMsats && converted == sdkConverted {
		return
	}
	d1, d2 := msats-sdkMsats, converted-sdkConverted
	if isTie(c) && d1 >= -1 && d1 <= 1 && d2 >= -1 && d2 <= 1 {
		*ties++
		return
	}
	t.Errorf("%s %+v: invoice %d vs ours %d, converted %d vs ours %d", who, c, sdkMsats, msats, sdkConverted, converted)
}

func TestAmountMath(t *testing.T) {
	cases := amountCases()

	t.Run("gosdk", func(t *testing.T) {
		var ties int
		for _, c := range cases {
			// An UMA PayRequest for c, answered by uma-go-sdk.
			body := ourPayRequest(t, payReqCase{name: "amount", amount: c.amount, sendingCurrency: map[bool]string{false: "USD"}[c.msats]},
				vasp2.PublicKeys())
			req, err := sdk.ParsePayRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			inv := &recordingInvoicer{}
			code, decimals, rate, fee := "USD", 2, c.multiplier, c.fee
			nodePub, cb, payee, key := payeeNodePubKey, payeeCallback, bob, vasp2.SigningKeyBytes()
			resp, err := sdk.GetPayReqResponse(*req, inv, "[]", &code, &decimals, &rate, &fee, &[]string{}, &nodePub, &cb,
				nil, &key, &payee, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			compareAmounts(t, "uma-go-sdk", c, inv.amountMsats, *resp.PaymentInfo.Amount, &ties)
		}
		t.Logf("%d cases agree exactly, %d differ by one at an exact .5 tie", len(cases)-ties, ties)
	})

	t.Run("jssdk", func(t *testing.T) {
		var ties int
		js(t)
		for _, c := range append(cases[:100:100], cases[len(cases)-7:]...) { // ~1 ms per JS call
			body := ourPayRequest(t, payReqCase{name: "amount", amount: c.amount, sendingCurrency: map[bool]string{false: "USD"}[c.msats]},
				vasp2.PublicKeys())
			var out struct {
				JSON               string
				InvoiceAmountMsats int64
			}
			jsCall(t, "signPayReqResponse", map[string]any{
				"requestJson": string(body), "privateKey": vasp2.SigningKeyHex, "pr": testPR, "metadata": "[]",
				"multiplier": c.multiplier, "currencyCode": "USD", "decimals": 2, "feeMsats": c.fee,
				"utxoCallback": payeeCallback, "payeeIdentifier": bob,
			}, &out)
			r, err := uma.ParsePayReqResponse([]byte(out.JSON))
			if err != nil {
				t.Fatal(err)
			}
			compareAmounts(t, "JS SDK", c, out.InvoiceAmountMsats, r.Converted.Amount, &ties)
		}
		t.Logf("%d cases agree exactly, %d differ by one at an exact .5 tie", 107-ties, ties)
	})
}
