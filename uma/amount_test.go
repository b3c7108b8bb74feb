package uma

import (
	"math"
	"testing"
)

func TestInvoiceMsatsForAmount(t *testing.T) {
	for _, tc := range []struct {
		amount     int64
		multiplier float64
		fee        int64
		want       int64
		code       ErrorCode
	}{
		{1000, 34150, 2000, 34152000, ""},
		{595, 23400, 0, 13923000, ""},
		{10, 1000, 0, 10000, ""},
		{5950000, 2.466, 0, 14672700, ""}, // exact decimal: 5950000 × 2.466
		{1, 22883.56, 0, 22884, ""},       // 22883.56 rounds up
		{3, 0.5, 0, 2, ""},                // 1.5 rounds half away from zero
		{1, 0.1, 0, 0, ""},
		{100, 0.1 + 0.2, 0, 30, ""}, // float noise does not leak: 0.30000000000000004 × 100 = 30.000000000000004
		{math.MaxInt64, 2, 0, 0, CodeAmountOutOfRange},
		{math.MaxInt64 / 1000, 1000, math.MaxInt64, 0, CodeAmountOutOfRange},
		{-1, 1000, 0, 0, CodeAmountOutOfRange},
		{1, 0, 0, 0, CodeInvalidCurrency},
		{1, -5, 0, 0, CodeInvalidCurrency},
		{1, math.Inf(1), 0, 0, CodeInvalidCurrency},
		{1, math.NaN(), 0, 0, CodeInvalidCurrency},
	} {
		got, err := InvoiceMsatsForAmount(tc.amount, tc.multiplier, tc.fee)
		if tc.code != "" {
			if err == nil {
				t.Errorf("%+v: no error", tc)
			} else {
				wantCode(t, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %d %v", tc, got, err)
		}
	}
}

func TestConvertedAmountForMsats(t *testing.T) {
	for _, tc := range []struct {
		msats      int64
		multiplier float64
		fee        int64
		want       int64
		code       ErrorCode
	}{
		{1000000, 34150, 2000, 29, ""},
		{34152000, 34150, 2000, 1000, ""},
		{1500, 1000, 0, 2, ""}, // 1.5 → 2
		{1499, 1000, 0, 1, ""},
		{1000, 1000, 2000, 0, CodeAmountOutOfRange},
		{math.MaxInt64, 1e-300, 0, 0, CodeAmountOutOfRange},
		{math.MaxInt64, 1, 0, math.MaxInt64, ""},
	} {
		got, err := ConvertedAmountForMsats(tc.msats, tc.multiplier, tc.fee)
		if tc.code != "" {
			if err == nil {
				t.Errorf("%+v: no error", tc)
			} else {
				wantCode(t, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %d %v", tc, got, err)
		}
	}
}

func TestQuotePayRequest(t *testing.T) {
	cur := []Currency{
		{Code: "USD", Name: "US Dollar", Symbol: "$", Multiplier: 34150, Decimals: 2, Convertible: Convertible{1, 10000}},
		{Code: "SAT", Name: "Satoshi", Multiplier: 1000, Decimals: 0, Convertible: Convertible{1, 1e8}},
	}
	for _, tc := range []struct {
		name string
		req  PayRequest
		msat int64
		amt  int64
		code ErrorCode
	}{
		{"receiver-locked", PayRequest{Amount: 1000, SendingCurrency: "USD", ReceivingCurrency: "USD"}, 34152000, 1000, ""},
		{"sender-locked", PayRequest{Amount: 1000000, ReceivingCurrency: "USD"}, 1000000, 29, ""},
		{"sats", PayRequest{Amount: 10, SendingCurrency: "SAT", ReceivingCurrency: "SAT"}, 12000, 10, ""},
		{"plain lnurl", PayRequest{Amount: 5000}, 5000, 0, ""},
		{"above convertible", PayRequest{Amount: 10001, SendingCurrency: "USD", ReceivingCurrency: "USD"}, 0, 0, CodeAmountOutOfRange},
		{"below convertible", PayRequest{Amount: 0, SendingCurrency: "USD", ReceivingCurrency: "USD"}, 0, 0, CodeAmountOutOfRange},
		{"above maxSendable", PayRequest{Amount: 1e12, ReceivingCurrency: "USD"}, 0, 0, CodeAmountOutOfRange},
		{"below fee", PayRequest{Amount: 1500, ReceivingCurrency: "USD"}, 0, 0, CodeAmountOutOfRange},
		{"unknown currency", PayRequest{Amount: 1, SendingCurrency: "EUR", ReceivingCurrency: "EUR"}, 0, 0, CodeInvalidCurrency},
		{"mismatched code", PayRequest{Amount: 1, SendingCurrency: "SAT", ReceivingCurrency: "USD"}, 0, 0, CodeInvalidCurrency},
		{"code without convert", PayRequest{Amount: 1, SendingCurrency: "USD"}, 0, 0, CodeInvalidCurrency},
		{"spark", PayRequest{Amount: 1, ReceivingCurrency: "USD", Settlement: &SettlementInfo{Layer: "spark", AssetIdentifier: "btkn1"}}, 0, 0, CodeInvalidCurrency},
	} {
		q, err := QuotePayRequest(&tc.req, cur, 1000, 1e10, 2000)
		if tc.code != "" {
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			} else {
				wantCode(t, err, tc.code)
			}
			continue
		}
		if err != nil || q.InvoiceMsats != tc.msat || (q.Converted != nil && q.Converted.Amount != tc.amt) {
			t.Errorf("%s: %+v %v", tc.name, q, err)
		}
	}
}

func TestCurrencyValidateAndFormat(t *testing.T) {
	ok := Currency{Code: "BTC", Multiplier: 1, Decimals: 8, Convertible: Convertible{0, 1}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Currency{
		{Code: "X", Multiplier: 1, Decimals: 9},
		{Code: "X", Multiplier: 1, Decimals: -1},
		{Code: "X", Multiplier: 0},
		{Code: "X", Multiplier: 1, Convertible: Convertible{5, 1}},
		{Multiplier: 1},
	} {
		wantCode(t, c.Validate(), CodeInvalidCurrency)
	}
	for _, tc := range []struct {
		a    int64
		d    int
		want string
	}{{1234, 2, "12.34"}, {5, 2, "0.05"}, {0, 0, "0"}, {-5, 3, "-0.005"}, {100000000, 8, "1.00000000"}, {math.MinInt64, 0, "-9223372036854775808"}} {
		if got := FormatAmount(tc.a, tc.d); got != tc.want {
			t.Errorf("%d/%d: %s", tc.a, tc.d, got)
		}
	}
}

func TestParseJSONInt64(t *testing.T) {
	for in, want := range map[string]int64{`5`: 5, `"5"`: 5, `1000.0`: 1000, `1e3`: 1000, `-7`: -7, `null`: 0, `9223372036854775807`: math.MaxInt64} {
		if got, err := parseJSONInt64([]byte(in)); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{`1.5`, `"x"`, `1e400`, `1e-3`, `9223372036854775808`, `true`, `"1e99999999"`} {
		if _, err := parseJSONInt64([]byte(in)); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

// A currency whose decimals break UMA's rules is an invalid currency, not
// an answer that does not parse: a sender drops it and pays in the others.
// Its decimals are read within -1..1001 (never wrapped into range).
func TestCurrencyDecimalsOutOfRange(t *testing.T) {
	r, err := ParseLnurlpResponse([]byte(`{"callback":"https://vasp2.com/cb","minSendable":1,"maxSendable":2,"currencies":[
		{"code":"USD","multiplier":34150,"decimals":2,"convertible":{"min":1,"max":10}},
		{"code":"X","multiplier":1,"decimals":-7},{"code":"Y","multiplier":1,"decimals":4294967298},
		{"code":"Z","multiplier":1,"decimals":"-9223372036854775808"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{2, -1, 1001, -1} {
		c := r.Currencies[i]
		if c.Decimals != want {
			t.Errorf("%s: decimals %d, want %d", c.Code, c.Decimals, want)
		}
		if i > 0 {
			wantCode(t, c.Validate(), CodeInvalidCurrency)
		}
	}
}

// A currency whose multiplier or decimals is not a number vaspd can hold
// (1e400, a word, an object) is an invalid currency too: the answer's
// other currencies stay payable.
func TestCurrencyUnreadableNumbers(t *testing.T) {
	r, err := ParseLnurlpResponse([]byte(`{"callback":"https://vasp2.com/cb","minSendable":1,"maxSendable":2,"currencies":[
		{"code":"USD","multiplier":34150,"decimals":2,"convertible":{"min":1,"max":10}},
		{"code":"A","multiplier":1e400,"decimals":2},{"code":"B","multiplier":"x","decimals":2},
		{"code":"C","multiplier":{},"decimals":2},{"code":"D","multiplier":1,"decimals":"two"},
		{"code":"E","multiplier":1,"decimals":[2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Currencies) != 6 || r.Currencies[0].Validate() != nil {
		t.Fatalf("currencies %+v", r.Currencies)
	}
	for _, c := range r.Currencies[1:] {
		wantCode(t, c.Validate(), CodeInvalidCurrency)
	}
}
