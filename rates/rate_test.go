package rates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
)

func mustRate(t testing.TB, per string, spread, fee int64) Rate {
	t.Helper()
	r, err := NewRate(Currency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2}, per, spread, fee, 0, 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWorkedExamples(t *testing.T) {
	// 1 BTC = 100,000 USD: one cent is 10^11 / 10^7 = 10,000 msats.
	r := mustRate(t, "10000", 50, 25)
	if got := r.ReceiveMultiplier().RatString(); got != "10050" {
		t.Fatalf("receive multiplier %s", got)
	}
	if got := r.SendMultiplier().RatString(); got != "9950" {
		t.Fatalf("send multiplier %s", got)
	}
	if f := r.UMAMultiplier(); f != 10050 {
		t.Fatalf("UMA multiplier %v", f)
	}
	fee, err := r.ReceiveFeeMsats()
	if err != nil || fee != 25*10050 {
		t.Fatalf("fee %d %v", fee, err)
	}

	// Receiving $10.00 exactly: 1000 × 10050 + 251,250 fee.
	c, err := r.ReceiveForAmount(1000)
	if err != nil || c.Msats != 10_050_000+251_250 || c.Amount != 1000 || c.FeeMsats != 251_250 {
		t.Fatalf("receive for amount: %+v %v", c, err)
	}
	// Receiving 1,000,000 msats: (1,000,000 − 251,250) / 10050 = 74.5… → 74 cents (floor).
	c, err = r.ReceiveForMsats(1_000_000)
	if err != nil || c.Amount != 74 || c.Msats != 1_000_000 {
		t.Fatalf("receive for msats: %+v %v", c, err)
	}
	// Sending $10.00: (1000 − 25) × 9950 = 9,701,250 msats.
	c, err = r.SendForAmount(1000)
	if err != nil || c.Msats != 9_701_250 || c.FeeAmount != 25 {
		t.Fatalf("send for amount: %+v %v", c, err)
	}
	// Delivering 1,000,001 msats: ceil(1,000,001 / 9950) = 101, + 25 fee.
	c, err = r.SendForMsats(1_000_001)
	if err != nil || c.Amount != 126 {
		t.Fatalf("send for msats: %+v %v", c, err)
	}

	// Too small, negative, overflow.
	if _, err := r.ReceiveForMsats(251_250); !errors.Is(err, ErrAmountTooSmall) {
		t.Fatalf("fee-only receive: %v", err)
	}
	if _, err := r.SendForAmount(25); !errors.Is(err, ErrAmountTooSmall) {
		t.Fatalf("fee-only send: %v", err)
	}
	if _, err := r.SendForAmount(-1); !errors.Is(err, ErrNegativeAmount) {
		t.Fatalf("negative: %v", err)
	}
	if _, err := r.ReceiveForAmount(math.MaxInt64 / 1000); !errors.Is(err, ErrOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	if _, err := r.SendForMsats(math.MaxInt64); err != nil {
		t.Fatalf("max msats should convert to units: %v", err)
	}
}

func TestDefaultConfigExact(t *testing.T) {
	p, err := NewConfigProvider(DefaultConfig(), vaspd.NewFakeClock(time.Unix(1_700_000_000, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]string{
		"USD": "10000",     // 10^11 / (100,000 × 100)
		"EUR": "250000/23", // 10^11 / (92,000 × 100)
		"GBP": "1000000/79",
		"MXN": "10000/19",
		"SAT": "1000",
	}
	cs, _ := p.Currencies(ctx)
	if len(cs) != len(want) || cs[0].Code != "USD" {
		t.Fatalf("currencies %+v", cs)
	}
	for code, per := range want {
		r, err := p.Rate(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.MsatsPerUnit().RatString(); got != per {
			t.Errorf("%s: %s msats/unit, want %s", code, got, per)
		}
		if !r.At.Equal(time.Unix(1_700_000_000, 0)) {
			t.Errorf("%s: At %v", code, r.At)
		}
	}
	if _, err := p.Rate(ctx, "XYZ"); !errors.Is(err, ErrUnknownCurrency) {
		t.Fatalf("unknown currency: %v", err)
	}
	if c, err := Find(ctx, p, "EUR"); err != nil || c.Symbol != "€" {
		t.Fatalf("find: %+v %v", c, err)
	}
	sat, _ := p.Rate(ctx, "SAT")
	if c, err := sat.ReceiveForMsats(1999); err != nil || c.Amount != 1 {
		t.Fatalf("SAT floor: %+v %v", c, err)
	}
}

func TestParseConfig(t *testing.T) {
	good := `
currencies:
  - code: USD
    name: US Dollar
    symbol: "$"
    decimals: 2
    btcPrice: 97500.50
    spreadBps: 25
    fixedFee: 10
    min: 100
    max: 5000000
  - code: BRL
    decimals: 2
    msatsPerUnit: "1818.18"
`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewConfigProvider(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.Rate(context.Background(), "USD")
	// 10^11 / 9,750,050 cents, exactly.
	if want := new(big.Rat).SetFrac64(100_000_000_000, 9_750_050); r.MsatsPerUnit().Cmp(want) != 0 {
		t.Fatalf("USD rate %s", r.MsatsPerUnit().RatString())
	}
	if r.SpreadBps != 25 || r.FixedFee != 10 || r.Min != 100 || r.Max != 5_000_000 {
		t.Fatalf("USD margins %+v", r)
	}
	if cur, ok := p.Lookup("BRL"); !ok || cur.Name != "BRL" {
		t.Fatalf("BRL defaults: %+v", cur)
	}

	bad := map[string]string{
		"unknown key":    "currencies:\n  - {code: USD, decimals: 2, btcPrice: '1', spreadBPS: 3}",
		"both prices":    "currencies:\n  - {code: USD, decimals: 2, btcPrice: '1', msatsPerUnit: '2'}",
		"no price":       "currencies:\n  - {code: USD, decimals: 2}",
		"exponent":       "currencies:\n  - {code: USD, decimals: 2, btcPrice: '1e5'}",
		"negative":       "currencies:\n  - {code: USD, decimals: 2, btcPrice: '-5'}",
		"zero":           "currencies:\n  - {code: USD, decimals: 2, msatsPerUnit: '0'}",
		"duplicate":      "currencies:\n  - {code: USD, btcPrice: '1'}\n  - {code: USD, btcPrice: '2'}",
		"bad code":       "currencies:\n  - {code: usd, btcPrice: '1'}",
		"decimals":       "currencies:\n  - {code: USD, decimals: 9, btcPrice: '1'}",
		"spread":         "currencies:\n  - {code: USD, btcPrice: '1', spreadBps: 6000}",
		"min above max":  "currencies:\n  - {code: USD, btcPrice: '1', min: 5, max: 4}",
		"negative fee":   "currencies:\n  - {code: USD, btcPrice: '1', fixedFee: -1}",
		"empty":          "currencies: []",
		"not yaml":       "{{{",
		"not a fraction": "currencies:\n  - {code: USD, msatsPerUnit: '1/0'}",
		// BTC is the ledger's own code, in msats: a user currency of that
		// code would share its balances in another unit (SAT is bitcoin
		// for users).
		"BTC": "currencies:\n  - {code: BTC, decimals: 8, msatsPerUnit: '1000'}",
		// A second document would be dropped without a word (and a
		// spread in it with it).
		"two documents": "currencies:\n  - {code: USD, btcPrice: '1'}\n---\ncurrencies:\n  - {code: EUR, btcPrice: '1', spreadBps: 50}",
	}
	for name, doc := range bad {
		if _, err := ParseConfig([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %q", name, doc)
		}
	}
	// yaml lists the values it cannot decode on lines of their own: the
	// error is one line still (the daemon prints it as the rates-file
	// setting's), naming each line of the file.
	_, err = ParseConfig([]byte("currencies:\n  - {code: USD, decimals: \"t\\nwo\", btcPrice: '1', spreadBPS: 3}\n  - 7\n"))
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `line 2: unknown key "spreadBPS"`) ||
		!strings.Contains(err.Error(), "line 3: ") {
		t.Errorf("err = %q, want one line naming each problem", err)
	}
	// An unknown key is called one, as in the config file, not by the Go
	// type the file is decoded into (which an operator has never seen).
	for _, doc := range []string{bad["unknown key"], "currency:\n  - {code: USD, btcPrice: '1'}"} {
		_, err := ParseConfig([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), "unknown key") || strings.Contains(err.Error(), "rates.") {
			t.Errorf("%q: err = %q, want an unknown key named, no Go type", doc, err)
		}
	}
}

func TestRateJSONRoundTrip(t *testing.T) {
	p, _ := NewConfigProvider(DefaultConfig(), nil)
	r, _ := p.Rate(context.Background(), "EUR")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"msatsPerUnit":"250000/23"`) {
		t.Fatalf("stored form %s", b)
	}
	var back Rate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.MsatsPerUnit().Cmp(r.MsatsPerUnit()) != 0 || back.SpreadBps != r.SpreadBps || back.Currency != r.Currency || !back.At.Equal(r.At) {
		t.Fatalf("round trip %+v vs %+v", back, r)
	}
	if err := json.Unmarshal([]byte(`{"currency":{"code":"USD"},"msatsPerUnit":"0"}`), &back); err == nil {
		t.Fatal("accepted a zero rate")
	}
	if _, err := json.Marshal(Rate{}); err == nil {
		t.Fatal("marshalled a zero Rate")
	}
}

func TestParseMultiplier(t *testing.T) {
	for f, want := range map[float64]string{34150: "34150", 2.466: "1233/500", 0.1: "1/10", 1e-7: "1/10000000"} {
		r, err := ParseMultiplier(f)
		if err != nil || r.RatString() != want {
			t.Errorf("%v: %v %v, want %s", f, r, err, want)
		}
	}
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := ParseMultiplier(f); err == nil {
			t.Errorf("accepted %v", f)
		}
	}
}

// checkNeverGivesAway asserts the rounding rules for one rate and amount:
// whatever direction, the VASP's side of the exchange is worth at least what
// it gives, measured at the mid rate (and at the quoted rate, exactly).
func checkNeverGivesAway(t *testing.T, r Rate, units, msats int64) {
	t.Helper()
	mid := r.MsatsPerUnit()
	val := func(u int64) *big.Rat { return mulInt(mid, u) }
	le := func(a, b *big.Rat) bool { return a.Cmp(b) <= 0 }

	if c, err := r.SendForAmount(units); err == nil {
		// Delivered msats ≤ the net units at mid, and charging again for
		// those msats never exceeds what the user paid.
		if !le(new(big.Rat).SetInt64(c.Msats), val(units-c.FeeAmount)) {
			t.Fatalf("send %d units: delivers %d msats, more than mid value", units, c.Msats)
		}
		back, err := r.SendForMsats(c.Msats)
		if err != nil || back.Amount > units {
			t.Fatalf("send %d units → %d msats → %d units (%v)", units, c.Msats, back.Amount, err)
		}
	}
	if c, err := r.SendForMsats(msats); err == nil {
		if !le(new(big.Rat).SetInt64(msats), val(c.Amount-c.FeeAmount)) {
			t.Fatalf("send %d msats: charges only %d units", msats, c.Amount)
		}
	}
	if c, err := r.ReceiveForAmount(units); err == nil {
		if !le(val(units), new(big.Rat).SetInt64(c.Msats-c.FeeMsats)) {
			t.Fatalf("receive %d units: asks only %d msats", units, c.Msats)
		}
		back, err := r.ReceiveForMsats(c.Msats)
		if err != nil || back.Amount < units {
			t.Fatalf("receive %d units → %d msats → %d units (%v)", units, c.Msats, back.Amount, err)
		}
	}
	if c, err := r.ReceiveForMsats(msats); err == nil {
		if !le(val(c.Amount), new(big.Rat).SetInt64(msats-c.FeeMsats)) {
			t.Fatalf("receive %d msats: credits %d units", msats, c.Amount)
		}
	}
}

func TestRoundingNeverGivesAway(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pers := []string{"10000", "250000/23", "1000000/79", "10000/19", "1000", "0.000123", "1818.18", "7/3", "123456789"}
	for i := 0; i < 20000; i++ {
		r := mustRate(t, pers[rng.IntN(len(pers))], rng.Int64N(MaxSpreadBps+1), rng.Int64N(1000))
		checkNeverGivesAway(t, r, rng.Int64N(1<<uint(rng.IntN(50)+1)), rng.Int64N(1<<uint(rng.IntN(60)+1)))
	}
}

func FuzzRounding(f *testing.F) {
	f.Add(int64(10000), int64(3), int64(50), int64(25), int64(1000), int64(1_000_000))
	f.Add(int64(1), int64(1), int64(0), int64(0), int64(1), int64(1))
	f.Add(int64(250000), int64(23), int64(5000), int64(999), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, num, den, spread, fee, units, msats int64) {
		if num <= 0 || den <= 0 || spread < 0 || spread > MaxSpreadBps || fee < 0 || units < 0 || msats < 0 {
			return
		}
		r, err := NewRate(Currency{Code: "XTS", Decimals: 2}, new(big.Rat).SetFrac64(num, den).RatString(), spread, fee, 0, 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		checkNeverGivesAway(t, r, units, msats)
	})
}

// A btcPrice of as many digits as the rates file allows (40 before the
// point and 40 after) is a rate: the msats per unit it gives is a
// fraction longer than an msatsPerUnit an operator may write, and was
// refused in the name of msatsPerUnit, a setting the operator never wrote.
func TestLongBTCPrice(t *testing.T) {
	price := strings.Repeat("9", 40) + "." + strings.Repeat("7", 39) + "1"
	for _, dec := range []int{0, 2, 8} {
		doc := fmt.Sprintf("currencies:\n  - {code: USD, decimals: %d, btcPrice: '%s'}\n", dec, price)
		c, err := ParseConfig([]byte(doc))
		if err != nil {
			t.Fatalf("decimals %d: %v", dec, err)
		}
		p, err := NewConfigProvider(c, nil)
		if err != nil {
			t.Fatalf("decimals %d: %v", dec, err)
		}
		r, err := p.Rate(context.Background(), "USD")
		if err != nil {
			t.Fatal(err)
		}
		pr, _ := new(big.Rat).SetString(price)
		want := new(big.Rat).Quo(big.NewRat(100_000_000_000, 1), pr.Mul(pr, new(big.Rat).SetFloat64(math.Pow10(dec))))
		if r.MsatsPerUnit().Cmp(want) != 0 {
			t.Fatalf("decimals %d: rate %s, want %s", dec, r.MsatsPerUnit().RatString(), want.RatString())
		}
		// A quote stores the rate it locked and reads it back.
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Rate
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("decimals %d: stored rate not read back: %v", dec, err)
		}
		if back.MsatsPerUnit().Cmp(want) != 0 {
			t.Fatalf("decimals %d: read back %s", dec, back.MsatsPerUnit().RatString())
		}
	}
	// A btcPrice that is not a number is still refused, in its own name.
	_, err := ParseConfig([]byte("currencies:\n  - {code: USD, decimals: 2, btcPrice: '1" + strings.Repeat("0", 41) + "'}\n"))
	if err == nil || !strings.Contains(err.Error(), "btcPrice") || strings.Contains(err.Error(), "msatsPerUnit") {
		t.Fatalf("err = %v, want btcPrice named", err)
	}
}
