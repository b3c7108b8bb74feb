package rates

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"time"

	"github.com/vaspd/vaspd"
)

// Currency is the UMAaaS Currency model: ISO-4217 code (or a ticker such as
// "SAT"), display name, symbol and the number of decimals of its smallest unit.
type Currency struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Symbol   string `json:"symbol"`
	Decimals int    `json:"decimals"`
}

// MaxDecimals is the largest number of decimals UMA can express.
const MaxDecimals = 8

// MaxSpreadBps bounds the spread at 50%; at 100% the sending rate would be zero.
const MaxSpreadBps = 5000

// Errors returned by conversions. They are plain values; callers map them to
// their own protocol errors (AMOUNT_OUT_OF_RANGE, INVALID_AMOUNT…).
var (
	// ErrUnknownCurrency: the provider does not price this currency.
	ErrUnknownCurrency = errors.New("rates: unknown currency")
	// ErrAmountTooSmall: the amount does not cover the fixed fee, or
	// converts to nothing.
	ErrAmountTooSmall = errors.New("rates: amount too small to convert")
	// ErrOverflow: the result does not fit in an int64.
	ErrOverflow = errors.New("rates: amount too large")
	// ErrNegativeAmount: a conversion was asked for a negative amount.
	ErrNegativeAmount = errors.New("rates: amount must not be negative")
)

// Rate is the price of one currency against bitcoin at a moment, with this
// VASP's margins. Rates are immutable values; the zero Rate is invalid. Make
// one with NewRate or get one from a Provider.
type Rate struct {
	Currency  Currency
	SpreadBps int64     // margin against the customer, 0..MaxSpreadBps
	FixedFee  int64     // per payment, in the currency's smallest unit, ≥ 0
	Min, Max  int64     // accepted payment range in smallest units (0 max = no limit)
	At        time.Time // when the price was taken

	mid *big.Rat // msats per smallest unit, mid-market, > 0
}

// NewRate builds a Rate from msats per smallest unit given as an exact
// decimal string ("10000", "10869.5652173913") or a fraction ("100000/9.2" is
// not accepted; "1000000/92" is).
func NewRate(cur Currency, msatsPerUnit string, spreadBps, fixedFee, min, max int64, at time.Time) (Rate, error) {
	mid, err := parsePositiveRat(msatsPerUnit)
	if err != nil {
		return Rate{}, fmt.Errorf("currency %s: msatsPerUnit: %w", cur.Code, err)
	}
	r := Rate{Currency: cur, SpreadBps: spreadBps, FixedFee: fixedFee, Min: min, Max: max, At: at, mid: mid}
	if err := r.Validate(); err != nil {
		return Rate{}, err
	}
	return r, nil
}

var codeRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,7}$`)

// ValidCode reports whether code looks like a currency code: 2–8 upper-case
// letters or digits, starting with a letter ("USD", "SAT", "USDC").
func ValidCode(code string) bool { return codeRE.MatchString(code) }

// Validate checks the rate's invariants.
func (r Rate) Validate() error {
	c := r.Currency
	switch {
	case !ValidCode(c.Code):
		return fmt.Errorf("currency code %q: want 2-8 upper-case letters or digits", c.Code)
	case c.Decimals < 0 || c.Decimals > MaxDecimals:
		return fmt.Errorf("currency %s: decimals must be 0..%d", c.Code, MaxDecimals)
	case r.mid == nil || r.mid.Sign() <= 0:
		return fmt.Errorf("currency %s: msatsPerUnit must be positive", c.Code)
	case r.SpreadBps < 0 || r.SpreadBps > MaxSpreadBps:
		return fmt.Errorf("currency %s: spreadBps must be 0..%d", c.Code, MaxSpreadBps)
	case r.FixedFee < 0:
		return fmt.Errorf("currency %s: fixedFee must not be negative", c.Code)
	case r.Min < 0 || r.Max < 0 || (r.Max != 0 && r.Min > r.Max):
		return fmt.Errorf("currency %s: need 0 <= min <= max", c.Code)
	}
	return nil
}

// MsatsPerUnit returns the mid-market rate (a copy; callers may modify it).
func (r Rate) MsatsPerUnit() *big.Rat {
	if r.mid == nil {
		return new(big.Rat)
	}
	return new(big.Rat).Set(r.mid)
}

// ReceiveMultiplier is msats per smallest unit when our user receives: the mid
// rate raised by the spread, so each unit credited costs the payer more.
func (r Rate) ReceiveMultiplier() *big.Rat {
	return r.scaled(10000 + r.SpreadBps)
}

// SendMultiplier is msats delivered per smallest unit when our user sends:
// the mid rate lowered by the spread.
func (r Rate) SendMultiplier() *big.Rat {
	return r.scaled(10000 - r.SpreadBps)
}

func (r Rate) scaled(bps int64) *big.Rat {
	m := r.MsatsPerUnit()
	return m.Mul(m, big.NewRat(bps, 10000))
}

// UMAMultiplier is the float "multiplier" to advertise in an LNURLP response
// for this currency (msats per smallest unit, spread included). It is only an
// estimate on the wire; the binding amount is the invoice computed with
// ReceiveForAmount or ReceiveForMsats.
func (r Rate) UMAMultiplier() float64 {
	f, _ := r.ReceiveMultiplier().Float64()
	return f
}

// ReceiveFeeMsats is the fixed fee in msats for an incoming payment (UMA's
// converted.fee): FixedFee units at the receive multiplier, rounded up.
func (r Rate) ReceiveFeeMsats() (int64, error) {
	return toInt64(ceil(mulInt(r.ReceiveMultiplier(), r.FixedFee)))
}

// Conversion is the result of pricing one payment.
//
// Amount is in the currency's smallest unit: what our user pays (sending,
// fee included) or is credited (receiving). Msats is the bitcoin side: what
// we deliver over Lightning (sending) or what the invoice asks the payer for
// (receiving, fee included). FeeAmount (sending, in units, part of Amount) and
// FeeMsats (receiving, part of Msats) are the fixed fee; the spread is in the
// rate itself.
type Conversion struct {
	Currency  string `json:"currency"`
	Amount    int64  `json:"amount"`
	Msats     int64  `json:"msats"`
	FeeAmount int64  `json:"feeAmount"`
	FeeMsats  int64  `json:"feeMsats"`
}

// ReceiveForAmount prices an incoming payment whose receiving amount is
// fixed (UMA case A, "amount": "<units>.<CODE>"): the payer must send
// ceil(units × ReceiveMultiplier) + ReceiveFeeMsats msats.
func (r Rate) ReceiveForAmount(units int64) (Conversion, error) {
	if units < 0 {
		return Conversion{}, ErrNegativeAmount
	}
	if units == 0 {
		return Conversion{}, ErrAmountTooSmall
	}
	fee, err := r.ReceiveFeeMsats()
	if err != nil {
		return Conversion{}, err
	}
	msats, err := toInt64(ceil(mulInt(r.ReceiveMultiplier(), units)))
	if err != nil {
		return Conversion{}, err
	}
	total, ok := addInt64(msats, fee)
	if !ok {
		return Conversion{}, ErrOverflow
	}
	return Conversion{Currency: r.Currency.Code, Amount: units, Msats: total, FeeMsats: fee}, nil
}

// ReceiveForMsats prices an incoming payment whose msats are fixed (UMA
// case B, "amount": "<msats>"): our user is credited
// floor((msats − ReceiveFeeMsats) / ReceiveMultiplier) units. Amounts that do
// not cover the fee or would credit nothing fail with ErrAmountTooSmall.
func (r Rate) ReceiveForMsats(msats int64) (Conversion, error) {
	if msats < 0 {
		return Conversion{}, ErrNegativeAmount
	}
	fee, err := r.ReceiveFeeMsats()
	if err != nil {
		return Conversion{}, err
	}
	if msats <= fee {
		return Conversion{}, ErrAmountTooSmall
	}
	q := new(big.Rat).SetInt64(msats - fee)
	q.Quo(q, r.ReceiveMultiplier())
	units, err := toInt64(floor(q))
	if err != nil {
		return Conversion{}, err
	}
	if units == 0 {
		return Conversion{}, ErrAmountTooSmall // the payer would pay for nothing
	}
	return Conversion{Currency: r.Currency.Code, Amount: units, Msats: msats, FeeMsats: fee}, nil
}

// SendForAmount prices an outgoing payment where our user spends exactly
// units (fee included): we deliver floor((units − FixedFee) × SendMultiplier)
// msats. Amounts that do not exceed the fee fail with ErrAmountTooSmall.
func (r Rate) SendForAmount(units int64) (Conversion, error) {
	if units < 0 {
		return Conversion{}, ErrNegativeAmount
	}
	if units <= r.FixedFee {
		return Conversion{}, ErrAmountTooSmall
	}
	msats, err := toInt64(floor(mulInt(r.SendMultiplier(), units-r.FixedFee)))
	if err != nil {
		return Conversion{}, err
	}
	if msats == 0 {
		return Conversion{}, ErrAmountTooSmall
	}
	return Conversion{Currency: r.Currency.Code, Amount: units, Msats: msats, FeeAmount: r.FixedFee}, nil
}

// SendForMsats prices an outgoing payment that must deliver exactly msats
// (the receiver locked the amount): our user is charged
// ceil(msats / SendMultiplier) + FixedFee units.
func (r Rate) SendForMsats(msats int64) (Conversion, error) {
	if msats < 0 {
		return Conversion{}, ErrNegativeAmount
	}
	if msats == 0 {
		return Conversion{}, ErrAmountTooSmall
	}
	q := new(big.Rat).SetInt64(msats)
	q.Quo(q, r.SendMultiplier())
	units, err := toInt64(ceil(q))
	if err != nil {
		return Conversion{}, err
	}
	total, ok := addInt64(units, r.FixedFee)
	if !ok {
		return Conversion{}, ErrOverflow
	}
	return Conversion{Currency: r.Currency.Code, Amount: total, Msats: msats, FeeAmount: r.FixedFee}, nil
}

// InRange reports whether units lies within the rate's [Min, Max] (Max 0
// means no upper limit).
func (r Rate) InRange(units int64) bool {
	return units >= r.Min && (r.Max == 0 || units <= r.Max)
}

// rateJSON is the stored form: the rational as "num/den" so it round-trips exactly.
type rateJSON struct {
	Currency     Currency  `json:"currency"`
	MsatsPerUnit string    `json:"msatsPerUnit"`
	SpreadBps    int64     `json:"spreadBps"`
	FixedFee     int64     `json:"fixedFee"`
	Min          int64     `json:"min"`
	Max          int64     `json:"max"`
	At           time.Time `json:"at"`
}

// MarshalJSON writes the rate exactly (msatsPerUnit as "num/den"), so a quote
// can store the rate it locked.
func (r Rate) MarshalJSON() ([]byte, error) {
	if r.mid == nil {
		return nil, errors.New("rates: marshal of a zero Rate")
	}
	return json.Marshal(rateJSON{r.Currency, r.mid.RatString(), r.SpreadBps, r.FixedFee, r.Min, r.Max, r.At})
}

// UnmarshalJSON reads what MarshalJSON wrote and validates it.
func (r *Rate) UnmarshalJSON(b []byte) error {
	var j rateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	// A rate from a btcPrice (CurrencyConfig.rate) may be a longer
	// fraction than an msatsPerUnit the rates file may hold: a stored one
	// is read up to storedFractionRE.
	mid, ok := new(big.Rat), storedFractionRE.MatchString(j.MsatsPerUnit)
	if ok {
		_, ok = mid.SetString(j.MsatsPerUnit)
	}
	if !ok {
		var err error
		if mid, err = parsePositiveRat(j.MsatsPerUnit); err != nil {
			return fmt.Errorf("currency %s: msatsPerUnit: %w", j.Currency.Code, err)
		}
	}
	nr := Rate{Currency: j.Currency, SpreadBps: j.SpreadBps, FixedFee: j.FixedFee, Min: j.Min, Max: j.Max, At: j.At, mid: mid}
	if err := nr.Validate(); err != nil {
		return err
	}
	*r = nr
	return nil
}

// storedFractionRE bounds the msatsPerUnit of a stored rate: 10^11 over a
// btcPrice of up to 40+40 digits times 10^MaxDecimals is at most 52 digits
// over 80.
var storedFractionRE = regexp.MustCompile(`^[0-9]{1,100}/[0-9]{1,100}$`)

// String is a short human form, e.g. "USD 10000 msats/unit (spread 50bps, fee 0)".
func (r Rate) String() string {
	if r.mid == nil {
		return "invalid rate"
	}
	return fmt.Sprintf("%s %s msats/unit (spread %dbps, fee %d)", r.Currency.Code, r.mid.FloatString(6), r.SpreadBps, r.FixedFee)
}

// ParseMultiplier turns a multiplier received on the wire (a float64 such as
// 34150 or 2.466) into the exact decimal the sender most likely wrote: the
// shortest decimal that round-trips to the same float. Rejects non-positive,
// NaN and infinite values.
func ParseMultiplier(f float64) (*big.Rat, error) {
	if !(f > 0) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("multiplier %v must be a positive finite number", f)
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		return nil, fmt.Errorf("multiplier %v cannot be represented", f)
	}
	return r, nil
}

var decimalRE = regexp.MustCompile(`^[0-9]{1,40}(\.[0-9]{1,40})?$`)
var fractionRE = regexp.MustCompile(`^[0-9]{1,60}/[0-9]{1,60}$`)

// parsePositiveRat accepts a plain decimal ("10869.56") or an integer
// fraction ("1000000/92"), nothing else (no exponents, signs or spaces), so a
// config typo cannot silently turn into a different number.
func parsePositiveRat(s string) (*big.Rat, error) {
	if !decimalRE.MatchString(s) && !fractionRE.MatchString(s) {
		return nil, fmt.Errorf("%q is not a plain decimal number", truncate(s))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 {
		return nil, fmt.Errorf("%q must be a positive number", truncate(s))
	}
	return r, nil
}

func truncate(s string) string { return vaspd.Truncate(s, 64) }

// mulInt returns r × n as a new Rat.
func mulInt(r *big.Rat, n int64) *big.Rat {
	return new(big.Rat).Mul(r, new(big.Rat).SetInt64(n))
}

// floor and ceil of a non-negative rational. (All our conversions are of
// non-negative amounts; big.Int.Quo truncates toward zero, which is floor
// for non-negative values.)
func floor(r *big.Rat) *big.Int {
	return new(big.Int).Quo(r.Num(), r.Denom())
}

func ceil(r *big.Rat) *big.Int {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func toInt64(i *big.Int) (int64, error) {
	if !i.IsInt64() {
		return 0, ErrOverflow
	}
	return i.Int64(), nil
}

func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}
