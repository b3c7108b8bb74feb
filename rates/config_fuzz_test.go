package rates

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig: any rates file is refused with an error of one line
// (the daemon prints it as the rates-file setting's) or gives a provider
// whose every rate prices payments without panicking, never in the
// customer's favour, and survives its stored JSON form exactly.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"currencies:\n  - code: USD\n    name: US Dollar\n    symbol: \"$\"\n    decimals: 2\n    btcPrice: \"100000\"\n    spreadBps: 50\n    fixedFee: 0\n    min: 1\n    max: 1000000000\n",
		"currencies:\n  - {code: SAT, decimals: 0, msatsPerUnit: \"1000\"}\n  - {code: MXN, decimals: 2, btcPrice: \"1900000.5\", fixedFee: 7}\n",
		"currencies:\n  - {code: XTS, decimals: 8, msatsPerUnit: \"1/3\", spreadBps: 10000}\n",
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: 100000}\n",
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: \"1e5\"}\n",
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: \"100000\", spreadBPS: 50}\n",
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: \"100000\", min: 5, max: 1}\n",
		"currencies:\n  - {code: usd, decimals: 9, btcPrice: \"100000\", msatsPerUnit: \"1\"}\n",
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: \"0.000000001\", fixedFee: 9223372036854775807}\n",
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: \"1\"}\n  - {code: USD, decimals: 2, btcPrice: \"2\"}\n",
		"currencies: []\n", "currencies:\n---\ncurrencies:\n", "", "~", "- a\n", "currencies: *x\n", "currencies: [1, 2]\n",
		"currencies:\n  - {code: USD, decimals: \"two\", btcPrice: \"1\", min: -1, max: x}\n",
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "rates file: ") {
				t.Fatalf("error %q: want one line about the rates file", msg)
			}
			return
		}
		p, err := NewConfigProvider(c, nil)
		if err != nil {
			t.Fatalf("ParseConfig took the file, NewConfigProvider refuses it: %v", err)
		}
		cs, _ := p.Currencies(ctx)
		for _, cur := range cs {
			r, err := p.Rate(ctx, cur.Code)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back Rate
			if err := json.Unmarshal(b, &back); err != nil || back.MsatsPerUnit().Cmp(r.MsatsPerUnit()) != 0 ||
				back.SpreadBps != r.SpreadBps || back.FixedFee != r.FixedFee || back.Currency != r.Currency {
				t.Fatalf("rate %s stored as %s reads back as %+v, %v", r, b, back, err)
			}
			_ = r.UMAMultiplier()
			for _, n := range []int64{1, r.Min, r.Max, r.FixedFee + 1, 1 << 40} {
				if n < 0 {
					continue
				}
				checkNeverGivesAway(t, r, n, n)
			}
		}
		if _, err := p.Rate(ctx, "NOPE\x00"); !errors.Is(err, ErrUnknownCurrency) {
			t.Fatalf("unknown currency: %v", err)
		}
	})
}
