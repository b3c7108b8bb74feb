package uma

import (
	"encoding/json"
	"math"
)

// Currency is one receiving currency offered in an LnurlpResponse (LUD-21).
//
// Multiplier is msats per smallest unit (per cent for USD, 1000 for SAT);
// Decimals is the number of digits of the smallest unit (0..8); Convertible
// is the range, in smallest units, the receiver will convert into.
type Currency struct {
	Code        string
	Name        string
	Symbol      string
	Multiplier  float64
	Decimals    int
	Convertible Convertible
}

// Convertible is the min/max amount in the currency's smallest unit.
type Convertible struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// MaxDecimals is the largest decimals value UMA allows.
const MaxDecimals = 8

// Validate applies the Python SDK's rules: multiplier > 0 and finite,
// 0 ≤ min ≤ max, 0 ≤ decimals ≤ 8, non-empty code.
func (c *Currency) Validate() error {
	switch {
	case c.Code == "":
		return Errorf(CodeInvalidCurrency, "currency code is empty")
	case !(c.Multiplier > 0) || math.IsInf(c.Multiplier, 0):
		return Errorf(CodeInvalidCurrency, "currency %s: multiplier must be positive", c.Code)
	case c.Decimals < 0 || c.Decimals > MaxDecimals:
		return Errorf(CodeInvalidCurrency, "currency %s: decimals must be 0..%d", c.Code, MaxDecimals)
	case c.Convertible.Min < 0 || c.Convertible.Min > c.Convertible.Max:
		return Errorf(CodeInvalidCurrency, "currency %s: need 0 <= min <= max", c.Code)
	}
	return nil
}

type currencyV1 struct {
	Code        string      `json:"code"`
	Name        string      `json:"name"`
	Symbol      string      `json:"symbol"`
	Multiplier  float64     `json:"multiplier"`
	Decimals    int         `json:"decimals"`
	Convertible Convertible `json:"convertible"`
}

type currencyV0 struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Symbol      string  `json:"symbol"`
	Multiplier  float64 `json:"multiplier"`
	Decimals    int     `json:"decimals"`
	MinSendable int64   `json:"minSendable"`
	MaxSendable int64   `json:"maxSendable"`
}

// wire returns the JSON shape for a major version.
func (c Currency) wire(major int) any {
	if major == 0 {
		return currencyV0{c.Code, c.Name, c.Symbol, c.Multiplier, c.Decimals, c.Convertible.Min, c.Convertible.Max}
	}
	return currencyV1(c)
}

// MarshalJSON writes the v1 shape. LnurlpResponse writes v0 when answering 0.x.
func (c Currency) MarshalJSON() ([]byte, error) { return marshalNoEscape(c.wire(1)) }

// UnmarshalJSON reads both shapes: v1 "convertible" or v0 currency-level
// "minSendable"/"maxSendable" (which may be fractional in old peers: min is
// rounded up and max down, so the range never widens).
func (c *Currency) UnmarshalJSON(b []byte) error {
	var w struct {
		Code        optString       `json:"code"`
		Name        optString       `json:"name"`
		Symbol      optString       `json:"symbol"`
		Multiplier  json.RawMessage `json:"multiplier"`
		Decimals    json.RawMessage `json:"decimals"`
		Convertible *struct {
			Min flexInt64 `json:"min"`
			Max flexInt64 `json:"max"`
		} `json:"convertible"`
		MinSendable *flexFloat `json:"minSendable"`
		MaxSendable *flexFloat `json:"maxSendable"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	// Decimals outside 0..MaxDecimals, and a multiplier that is not a
	// positive finite number, make the currency invalid (Validate), not
	// the answer offering it: a sender drops that currency and pays in the
	// others. A value that does not parse as a number (1e400, "x") is
	// read as an invalid one. Decimals are read within -1..1001, so that
	// no int conversion can wrap them into range and nothing formatting
	// an amount with them (FormatAmount) pads by more.
	var mult flexFloat
	if len(w.Multiplier) > 0 && json.Unmarshal(w.Multiplier, &mult) != nil {
		mult = 0
	}
	var dec flexInt64
	if len(w.Decimals) > 0 && json.Unmarshal(w.Decimals, &dec) != nil {
		dec = -1
	}
	decimals := int(min(max(dec, -1), 1001))
	*c = Currency{Code: string(w.Code), Name: string(w.Name), Symbol: string(w.Symbol), Multiplier: float64(mult), Decimals: decimals}
	switch {
	case w.Convertible != nil:
		c.Convertible = Convertible{Min: int64(w.Convertible.Min), Max: int64(w.Convertible.Max)}
	case w.MinSendable != nil || w.MaxSendable != nil:
		if w.MinSendable != nil {
			c.Convertible.Min = clampInt64(math.Ceil(float64(*w.MinSendable)))
		}
		if w.MaxSendable != nil {
			c.Convertible.Max = clampInt64(math.Floor(float64(*w.MaxSendable)))
		}
	}
	return nil
}

func clampInt64(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// FindCurrency returns the currency with code in cs.
func FindCurrency(cs []Currency, code string) (Currency, bool) {
	for _, c := range cs {
		if c.Code == code {
			return c, true
		}
	}
	return Currency{}, false
}
