package uma

import (
	"encoding/json"
	"slices"
	"strings"
)

// KycStatus is the KYC state of a user, as sent in compliance objects.
// Only these four values are safe to send (Python peers crash on others).
type KycStatus string

const (
	KycUnknown     KycStatus = "UNKNOWN"
	KycNotVerified KycStatus = "NOT_VERIFIED"
	KycPending     KycStatus = "PENDING"
	KycVerified    KycStatus = "VERIFIED"
)

// Valid reports whether s is one of the four standard values.
func (s KycStatus) Valid() bool {
	switch s {
	case KycUnknown, KycNotVerified, KycPending, KycVerified:
		return true
	}
	return false
}

// BackingSignature is a signature of a "backing" VASP over the same payload
// as the primary signature, keyed by the backing VASP's domain.
type BackingSignature struct {
	Domain    string `json:"domain"`
	Signature string `json:"signature"`
}

// maxBackingSignatures bounds how many we accept (each costs a key fetch).
const maxBackingSignatures = 10

// Counterparty data keys with special meaning (UMAD-05/06, LUD-18/22).
const (
	DataIdentifier = "identifier"
	DataCompliance = "compliance"
	DataName       = "name"
	DataEmail      = "email"
)

// KnownCounterpartyDataKeys are the payer/payee data keys used by the SDKs
// (uma-protocol.md §1.14). A receiver asked for a mandatory key outside its
// own list answers UNRECOGNIZED_MANDATORY_PAYEE_DATA_KEY.
var KnownCounterpartyDataKeys = []string{
	DataIdentifier, DataCompliance, DataName, DataEmail,
	"countryCode", "birthDate", "nationality", "countryOfResidence", "phoneNumber",
	"accountNumber", "postalAddress", "accountIdentifier", "financialInstitutionLei", "fiLegalEntityName",
}

// CounterpartyDataOption says whether one data key is mandatory.
type CounterpartyDataOption struct {
	Mandatory bool `json:"mandatory"`
}

func (o *CounterpartyDataOption) UnmarshalJSON(b []byte) error {
	var w struct {
		Mandatory flexBool `json:"mandatory"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	o.Mandatory = bool(w.Mandatory)
	return nil
}

// CounterpartyDataOptions is the LUD-18 payerData / LUD-22 payeeData request:
// key → {"mandatory": bool}.
type CounterpartyDataOptions map[string]CounterpartyDataOption

// UMADataOptions returns options with identifier and compliance mandatory
// (what UMA requires) plus the given optional keys.
func UMADataOptions(optional ...string) CounterpartyDataOptions {
	o := CounterpartyDataOptions{
		DataIdentifier: {Mandatory: true},
		DataCompliance: {Mandatory: true},
	}
	for _, k := range optional {
		if _, ok := o[k]; !ok {
			o[k] = CounterpartyDataOption{}
		}
	}
	return o
}

// Mandatory returns the mandatory keys, sorted.
func (o CounterpartyDataOptions) Mandatory() []string {
	var out []string
	for k, v := range o {
		if v.Mandatory {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// EncodeInvoiceString is the UMA invoice encoding "key:1,key:0,..." sorted by key.
func (o CounterpartyDataOptions) encodeInvoiceString() string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		m := "0"
		if o[k].Mandatory {
			m = "1"
		}
		parts[i] = k + ":" + m
	}
	return strings.Join(parts, ",")
}

func decodeDataOptionsInvoiceString(s string) (CounterpartyDataOptions, error) {
	o := CounterpartyDataOptions{}
	if s == "" {
		return o, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, m, ok := strings.Cut(part, ":")
		if !ok || k == "" || (m != "0" && m != "1") {
			return nil, Errorf(CodeInvalidInvoice, "invalid requiredPayerData entry %q", truncate(part))
		}
		o[k] = CounterpartyDataOption{Mandatory: m == "1"}
	}
	return o, nil
}

// SettlementOption advertises a settlement layer and its assets (2025+ SDKs).
type SettlementOption struct {
	SettlementLayer string            `json:"settlementLayer"`
	Assets          []SettlementAsset `json:"assets"`
}

// SettlementAsset is one asset of a settlement layer with its multipliers
// (smallest asset units per smallest currency unit, by currency code).
type SettlementAsset struct {
	Identifier  string             `json:"identifier"`
	Multipliers map[string]float64 `json:"multipliers"`
}

// SettlementInfo is the sender's choice in a PayRequest; nil means Lightning/BTC.
type SettlementInfo struct {
	Layer           string `json:"layer"`
	AssetIdentifier string `json:"assetIdentifier"`
}

// IsLightning reports whether s is absent or the Lightning layer with BTC.
func (s *SettlementInfo) IsLightning() bool {
	return s == nil || (s.Layer == "ln" || s.Layer == "") && (s.AssetIdentifier == "" || s.AssetIdentifier == "BTC")
}
