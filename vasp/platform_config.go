package vasp

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/vaspd/vaspd/uma"
)

// PlatformConfig is what this VASP offers, as UMAaaS's PlatformConfig
// tells a platform (GET /config): its UMA domain, and per currency the
// amounts it accepts and what it asks of counterparties. It is read from
// the settings and the rates file, which are where it is changed.
type PlatformConfig struct {
	UMADomain  string
	Currencies []PlatformCurrency
}

// PlatformCurrency is one currency of the rates file.
type PlatformCurrency struct {
	Code string
	// Min and Max bound one payment, in the currency's smallest unit, as
	// the rates file gives them (paymentBounds); our lnurlp answers
	// narrow them to the msats a payment may carry at the current rate
	// (receivable), which moves.
	Min, Max int64
	// RequiredCounterpartyFields is what a sender must tell about its
	// user (required-counterparty-fields), by UMAaaS field name, sorted.
	// The identifier, which UMA always requires, is not listed.
	RequiredCounterpartyFields []CounterpartyField
}

// CounterpartyField is one field asked of counterparties.
type CounterpartyField struct {
	Name      string // UMAaaS UserInfoFieldName: FULL_NAME, EMAIL, …
	Mandatory bool
}

// PlatformConfig reports what this VASP offers. Every currency of the
// rates file is listed, stale rates or not: it describes the offer, and a
// payment is priced (or refused) when it is made.
func (s *Service) PlatformConfig(ctx context.Context) (PlatformConfig, error) {
	var fields []CounterpartyField
	for key, opt := range s.payerData {
		if name, ok := PayerFieldNames[key]; ok && key != uma.DataIdentifier {
			fields = append(fields, CounterpartyField{Name: name, Mandatory: opt.Mandatory})
		}
	}
	slices.SortFunc(fields, func(a, b CounterpartyField) int { return cmp.Compare(a.Name, b.Name) })
	all, err := s.opt.Rates.Currencies(ctx)
	if err != nil {
		return PlatformConfig{}, fmt.Errorf("list currencies: %w", err)
	}
	out := PlatformConfig{UMADomain: s.opt.Domain, Currencies: make([]PlatformCurrency, 0, len(all))}
	for _, c := range all {
		rate, err := s.opt.Rates.Rate(ctx, c.Code)
		if err != nil {
			return PlatformConfig{}, fmt.Errorf("rate of %s: %w", c.Code, err)
		}
		min, max := paymentBounds(rate)
		out.Currencies = append(out.Currencies, PlatformCurrency{Code: c.Code, Min: min, Max: max,
			RequiredCounterpartyFields: slices.Clone(fields)})
	}
	return out, nil
}
