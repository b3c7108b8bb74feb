package rates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/vaspd/vaspd"
)

// Provider prices currencies. Implementations must be safe for concurrent
// use. A Provider is asked for the current rate; locking a rate for a quote is
// the quote's job (store the Rate it got).
type Provider interface {
	// Currencies lists the supported currencies in the operator's order of
	// preference.
	Currencies(ctx context.Context) ([]Currency, error)
	// Rate returns the current rate for code, or an error wrapping
	// ErrUnknownCurrency.
	Rate(ctx context.Context, code string) (Rate, error)
}

// Config is the rates file: one entry per currency, in order of preference.
//
//	currencies:
//	  - code: USD
//	    name: US Dollar
//	    symbol: "$"
//	    decimals: 2
//	    btcPrice: "100000"      # price of 1 BTC in major units (exact decimal), or:
//	    # msatsPerUnit: "10000" # msats per smallest unit (exact decimal)
//	    spreadBps: 50           # 0.50% against the customer, each direction
//	    fixedFee: 0             # per payment, in cents
//	    min: 1                  # smallest accepted payment, in cents
//	    max: 1000000000         # largest accepted payment, in cents (0 = none)
type Config struct {
	Currencies []CurrencyConfig `yaml:"currencies"`
}

// CurrencyConfig is one currency in the rates file. Exactly one of BTCPrice
// and MsatsPerUnit must be set; both are decimal strings, never floats.
type CurrencyConfig struct {
	Code         string `yaml:"code"`
	Name         string `yaml:"name"`
	Symbol       string `yaml:"symbol"`
	Decimals     int    `yaml:"decimals"`
	BTCPrice     string `yaml:"btcPrice"`
	MsatsPerUnit string `yaml:"msatsPerUnit"`
	SpreadBps    int64  `yaml:"spreadBps"`
	FixedFee     int64  `yaml:"fixedFee"`
	Min          int64  `yaml:"min"`
	Max          int64  `yaml:"max"`
}

// msatsPerBTC is 10^11: 10^8 sats of 10^3 msats.
var msatsPerBTC = big.NewRat(100_000_000_000, 1)

// DefaultConfig returns the built-in DEMO rates, used when no rates file is
// configured. They are fixed numbers chosen for testing (1 BTC = 100,000 USD
// = 92,000 EUR = 79,000 GBP = 1,900,000 MXN, 0.5% spread, no fixed fee),
// plus SAT (satoshis, exactly 1000 msats, no spread): never use them for
// real money.
func DefaultConfig() Config {
	fiat := func(code, name, symbol, price string) CurrencyConfig {
		return CurrencyConfig{Code: code, Name: name, Symbol: symbol, Decimals: 2, BTCPrice: price,
			SpreadBps: 50, Min: 1, Max: 100_000_000}
	}
	return Config{Currencies: []CurrencyConfig{
		fiat("USD", "US Dollar", "$", "100000"),
		fiat("EUR", "Euro", "€", "92000"),
		fiat("GBP", "Pound Sterling", "£", "79000"),
		fiat("MXN", "Mexican Peso", "MX$", "1900000"),
		{Code: "SAT", Name: "Satoshi", Symbol: "sat", Decimals: 0, MsatsPerUnit: "1000", Min: 1, Max: 100_000_000},
	}}
}

// unknownField matches yaml's error for a key KnownFields refuses.
var unknownField = regexp.MustCompile(`^(line \d+: )field (.*) not found in type \S+$`)

// ParseConfig reads a rates file. Unknown keys are errors, so a misspelt
// "spreadBPS" does not silently mean zero spread.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		// yaml lists the values it cannot decode one per line, quoting
		// their first characters, line ends included: kept one line, as
		// the daemon prints it (the rates-file setting's error).
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				// "field x not found in type rates.CurrencyConfig" names
				// a Go type the operator never saw: an unknown key, as
				// the config file says of its own.
				msgs[i] = unknownField.ReplaceAllString(m, `${1}unknown key "${2}"`)
			}
			return Config{}, fmt.Errorf("rates file: %s", escapeControl(strings.Join(msgs, "; ")))
		}
		return Config{}, fmt.Errorf("rates file: %w", err)
	}
	// One document: Decode reads the first and would drop any after it.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("rates file: holds more than one YAML document (---): put every currency in one")
	}
	if _, err := c.rates(time.Time{}); err != nil {
		return Config{}, fmt.Errorf("rates file: %w", err)
	}
	return c, nil
}

// escapeControl writes the control characters of s as \xNN.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LoadConfig reads and parses the rates file at path.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read rates file: %w", err)
	}
	return ParseConfig(b)
}

// ledgerBTC is ledger.BTC, the ledger's code for bitcoin in msats (not
// imported: this package stays free of the database).
const ledgerBTC = "BTC"

// rates validates c and returns one Rate per currency.
func (c Config) rates(at time.Time) ([]Rate, error) {
	if len(c.Currencies) == 0 {
		return nil, fmt.Errorf("no currencies configured")
	}
	seen := map[string]bool{}
	out := make([]Rate, 0, len(c.Currencies))
	for i, cc := range c.Currencies {
		if seen[cc.Code] {
			return nil, fmt.Errorf("currency %s is listed twice", cc.Code)
		}
		if cc.Code == ledgerBTC {
			// The ledger books the node's bitcoin as BTC in msats, a unit
			// no rates-file currency can have (at most MaxDecimals): a
			// user currency of that code would share those balances in
			// another unit, and GET /ledger/accounts would describe the
			// node's msats with its decimals.
			return nil, fmt.Errorf("currency BTC is the ledger's own (msats): list SAT for bitcoin balances")
		}
		seen[cc.Code] = true
		r, err := cc.rate(at)
		if err != nil {
			return nil, fmt.Errorf("currencies[%d]: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (cc CurrencyConfig) rate(at time.Time) (Rate, error) {
	cur := Currency{Code: cc.Code, Name: cc.Name, Symbol: cc.Symbol, Decimals: cc.Decimals}
	if cc.Name == "" {
		cur.Name = cc.Code
	}
	if cc.Decimals < 0 || cc.Decimals > MaxDecimals {
		return Rate{}, fmt.Errorf("currency %s: decimals must be 0..%d", cc.Code, MaxDecimals)
	}
	switch {
	case (cc.BTCPrice == "") == (cc.MsatsPerUnit == ""):
		return Rate{}, fmt.Errorf("currency %s: set exactly one of btcPrice and msatsPerUnit", cc.Code)
	case cc.MsatsPerUnit != "":
		return NewRate(cur, cc.MsatsPerUnit, cc.SpreadBps, cc.FixedFee, cc.Min, cc.Max, at)
	}
	price, err := parsePositiveRat(cc.BTCPrice)
	if err != nil {
		return Rate{}, fmt.Errorf("currency %s: btcPrice: %w", cc.Code, err)
	}
	// msats per smallest unit = 10^11 / (price × 10^decimals), exactly: a
	// fraction that may be longer than an msatsPerUnit the file may hold
	// (the operator wrote the price, which parsePositiveRat has bounded),
	// so not parsed again as one.
	units := new(big.Rat).Mul(price, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cc.Decimals)), nil)))
	r := Rate{Currency: cur, SpreadBps: cc.SpreadBps, FixedFee: cc.FixedFee, Min: cc.Min, Max: cc.Max, At: at,
		mid: new(big.Rat).Quo(msatsPerBTC, units)}
	if err := r.Validate(); err != nil {
		return Rate{}, err
	}
	return r, nil
}

// ConfigProvider serves the rates of a Config: fixed ones
// (NewConfigProvider), or those of a rates file it reloads when the file
// changes (NewFileProvider, reload.go). Safe for concurrent use: each call
// reads one table, swapped whole by a reload, so a price never mixes two.
type ConfigProvider struct {
	clock vaspd.Clock
	cur   atomic.Pointer[table]
	file  *fileSource // nil: fixed rates, never reloaded nor stale
	metrics
}

// table is one immutable set of rates.
type table struct {
	order []Currency
	rates map[string]Rate
	// asOf is when the rates were written (the file's modification
	// time); zero for fixed rates.
	asOf time.Time
	sum  [32]byte // SHA-256 of the file
}

func newTable(c Config) (*table, error) {
	rs, err := c.rates(time.Time{})
	if err != nil {
		return nil, err
	}
	t := &table{rates: make(map[string]Rate, len(rs))}
	for _, r := range rs {
		t.order = append(t.order, r.Currency)
		t.rates[r.Currency.Code] = r
	}
	return t, nil
}

// NewConfigProvider validates c and returns a provider of its fixed rates.
// clock stamps each Rate's At; nil means the system clock.
func NewConfigProvider(c Config, clock vaspd.Clock) (*ConfigProvider, error) {
	if clock == nil {
		clock = vaspd.SystemClock{}
	}
	t, err := newTable(c)
	if err != nil {
		return nil, err
	}
	p := &ConfigProvider{clock: clock, metrics: newMetrics()}
	p.cur.Store(t)
	return p, nil
}

// Currencies lists the configured currencies in file order.
func (p *ConfigProvider) Currencies(ctx context.Context) ([]Currency, error) {
	return append([]Currency(nil), p.cur.Load().order...), nil
}

// Rate returns the configured rate for code, stamped with the current time.
// It answers stale rates too (to describe a currency, say): FreshRate is
// the one that prices new money.
func (p *ConfigProvider) Rate(ctx context.Context, code string) (Rate, error) {
	return p.rate(p.cur.Load(), code)
}

func (p *ConfigProvider) rate(t *table, code string) (Rate, error) {
	r, ok := t.rates[code]
	if !ok {
		return Rate{}, fmt.Errorf("%w %q", ErrUnknownCurrency, truncate(code))
	}
	r.At = p.clock.Now().UTC()
	return r, nil
}

// Lookup returns the currency with the given code, if configured. It needs
// no context, so validators (e.g. of users' preferred currencies) can use it.
func (p *ConfigProvider) Lookup(code string) (Currency, bool) {
	r, ok := p.cur.Load().rates[code]
	return r.Currency, ok
}

// Find returns the currency with the given code from any Provider.
func Find(ctx context.Context, p Provider, code string) (Currency, error) {
	cs, err := p.Currencies(ctx)
	if err != nil {
		return Currency{}, err
	}
	for _, c := range cs {
		if c.Code == code {
			return c, nil
		}
	}
	return Currency{}, fmt.Errorf("%w %q", ErrUnknownCurrency, truncate(code))
}
