package uma

import (
	"encoding/json"
	"maps"
)

// PayerData is the LUD-18 payer data a sender attaches to a PayRequest:
// the UMA identifier, the signed compliance block, and whichever other keys
// the receiver asked for (name, email, birthDate, postalAddress, ...).
type PayerData struct {
	Identifier string // sender UMA, e.g. "$alice@vasp1.com"; signed
	Name       string
	Email      string
	Compliance *CompliancePayerData
	// Extra holds every other key verbatim (countryOfResidence, postalAddress, ...).
	Extra map[string]json.RawMessage
}

// PayeeData is the LUD-22 payee data a receiver returns in a PayReqResponse.
type PayeeData struct {
	Identifier string // receiver UMA exactly as signed, e.g. "$bob@vasp2.com"
	Name       string
	Email      string
	Compliance *CompliancePayeeData
	Extra      map[string]json.RawMessage
}

// Has reports whether key is present (non-empty) in d.
func (d *PayerData) Has(key string) bool {
	return d != nil && hasKey(key, d.Identifier, d.Name, d.Email, d.Compliance != nil, d.Extra)
}

// Has reports whether key is present (non-empty) in d.
func (d *PayeeData) Has(key string) bool {
	return d != nil && hasKey(key, d.Identifier, d.Name, d.Email, d.Compliance != nil, d.Extra)
}

func hasKey(key, id, name, email string, compliance bool, extra map[string]json.RawMessage) bool {
	switch key {
	case DataIdentifier:
		return id != ""
	case DataName:
		return name != ""
	case DataEmail:
		return email != ""
	case DataCompliance:
		return compliance
	}
	v, ok := extra[key]
	return ok && string(v) != "null" && string(v) != `""`
}

// missingMandatory lists mandatory option keys that has() lacks.
func missingMandatory(opts CounterpartyDataOptions, has func(string) bool) []string {
	var out []string
	for _, k := range opts.Mandatory() {
		if !has(k) {
			out = append(out, k)
		}
	}
	return out
}

func marshalData(id, name, email string, compliance any, extra map[string]json.RawMessage) ([]byte, error) {
	m := make(map[string]any, len(extra)+4)
	for k, v := range extra {
		m[k] = v
	}
	if id != "" {
		m[DataIdentifier] = id
	}
	if name != "" {
		m[DataName] = name
	}
	if email != "" {
		m[DataEmail] = email
	}
	if compliance != nil {
		m[DataCompliance] = compliance
	}
	return marshalNoEscape(m) // sorted keys: deterministic bytes
}

// unmarshalData splits an object into the typed keys and Extra.
func unmarshalData(b []byte) (id, name, email string, compliance json.RawMessage, extra map[string]json.RawMessage, err error) {
	m, err := jsonObject(b)
	if err != nil {
		return
	}
	var s optString
	take := func(key string, dst *string) {
		if err != nil {
			return
		}
		if v, ok := m[key]; ok {
			delete(m, key)
			if err = json.Unmarshal(v, &s); err == nil {
				*dst = string(s)
			}
		}
	}
	take(DataIdentifier, &id)
	take(DataName, &name)
	take(DataEmail, &email)
	if err != nil {
		return
	}
	if v, ok := m[DataCompliance]; ok {
		delete(m, DataCompliance)
		if string(v) != "null" {
			compliance = v
		}
	}
	if len(m) > 0 {
		extra = maps.Clone(m)
	}
	return
}

// MarshalJSON writes the known keys plus Extra (sorted keys).
func (d PayerData) MarshalJSON() ([]byte, error) {
	var c any
	if d.Compliance != nil {
		c = d.Compliance
	}
	return marshalData(d.Identifier, d.Name, d.Email, c, d.Extra)
}

func (d *PayerData) UnmarshalJSON(b []byte) error {
	id, name, email, comp, extra, err := unmarshalData(b)
	if err != nil {
		return err
	}
	*d = PayerData{Identifier: id, Name: name, Email: email, Extra: extra}
	if comp != nil {
		// comp is valid JSON (part of b) and not null: call the method
		// directly rather than have json.Unmarshal validate it again.
		d.Compliance = new(CompliancePayerData)
		return d.Compliance.UnmarshalJSON(comp)
	}
	return nil
}

// MarshalJSON writes the known keys plus Extra (sorted keys).
func (d PayeeData) MarshalJSON() ([]byte, error) {
	var c any
	if d.Compliance != nil {
		c = d.Compliance
	}
	return marshalData(d.Identifier, d.Name, d.Email, c, d.Extra)
}

func (d *PayeeData) UnmarshalJSON(b []byte) error {
	id, name, email, comp, extra, err := unmarshalData(b)
	if err != nil {
		return err
	}
	*d = PayeeData{Identifier: id, Name: name, Email: email, Extra: extra}
	if comp != nil { // valid JSON, not null: as in PayerData.UnmarshalJSON
		d.Compliance = new(CompliancePayeeData)
		return d.Compliance.UnmarshalJSON(comp)
	}
	return nil
}

// CompliancePayerData is the sender's signed compliance block
// (payerData.compliance).
type CompliancePayerData struct {
	Utxos      []string // sender channel UTXOs for pre-screening; emitted as [] when empty
	NodePubKey string
	KycStatus  KycStatus
	// EncryptedTravelRuleInfo is hex ECIES to the receiver's encryption key
	// (see EncryptTravelRuleInfo).
	EncryptedTravelRuleInfo string
	TravelRuleFormat        string // "<type>@<version>", e.g. "IVMS@101.2023"; empty = custom JSON
	UtxoCallback            string // where the receiver posts its post-tx callback; "" if none
	Signature               string // hex DER over payerData.identifier|SignatureNonce|SignatureTimestamp
	SignatureNonce          string
	SignatureTimestamp      int64
	BackingSignatures       []BackingSignature
}

type compliancePayerWire struct {
	Utxos                   []string           `json:"utxos"`
	NodePubKey              string             `json:"nodePubKey,omitempty"`
	KycStatus               KycStatus          `json:"kycStatus"`
	EncryptedTravelRuleInfo string             `json:"encryptedTravelRuleInfo,omitempty"`
	TravelRuleFormat        string             `json:"travelRuleFormat,omitempty"`
	UtxoCallback            string             `json:"utxoCallback"`
	Signature               string             `json:"signature"`
	SignatureNonce          string             `json:"signatureNonce"`
	SignatureTimestamp      int64              `json:"signatureTimestamp"`
	BackingSignatures       []BackingSignature `json:"backingSignatures,omitempty"`
}

// MarshalJSON always writes "utxos" (as [] when empty) and "utxoCallback"
// (Kotlin requires the key).
func (c CompliancePayerData) MarshalJSON() ([]byte, error) {
	w := compliancePayerWire(c)
	w.Utxos = nonNil(w.Utxos)
	return marshalNoEscape(w)
}

func (c *CompliancePayerData) UnmarshalJSON(b []byte) error {
	var w struct {
		Utxos                   []string           `json:"utxos"`
		NodePubKey              optString          `json:"nodePubKey"`
		KycStatus               optString          `json:"kycStatus"`
		EncryptedTravelRuleInfo optString          `json:"encryptedTravelRuleInfo"`
		TravelRuleFormat        travelRuleFormat   `json:"travelRuleFormat"`
		UtxoCallback            optString          `json:"utxoCallback"`
		Signature               optString          `json:"signature"`
		SignatureNonce          optString          `json:"signatureNonce"`
		SignatureTimestamp      flexInt64          `json:"signatureTimestamp"`
		BackingSignatures       []BackingSignature `json:"backingSignatures"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = CompliancePayerData{
		Utxos: w.Utxos, NodePubKey: string(w.NodePubKey), KycStatus: KycStatus(w.KycStatus),
		EncryptedTravelRuleInfo: string(w.EncryptedTravelRuleInfo), TravelRuleFormat: string(w.TravelRuleFormat),
		UtxoCallback: string(w.UtxoCallback), Signature: string(w.Signature), SignatureNonce: string(w.SignatureNonce),
		SignatureTimestamp: int64(w.SignatureTimestamp), BackingSignatures: w.BackingSignatures,
	}
	return nil
}

// travelRuleFormat reads "type@version", null, or the object {type, version}.
type travelRuleFormat string

func (t *travelRuleFormat) UnmarshalJSON(b []byte) error {
	var s optString
	if err := json.Unmarshal(b, &s); err == nil {
		*t = travelRuleFormat(s)
		return nil
	}
	var o struct {
		Type    string `json:"type"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	if o.Version != "" {
		*t = travelRuleFormat(o.Type + "@" + o.Version)
	} else {
		*t = travelRuleFormat(o.Type)
	}
	return nil
}

// CompliancePayeeData is the receiver's signed compliance block
// (payeeData.compliance in v1; unsigned top-level "compliance" in v0).
type CompliancePayeeData struct {
	NodePubKey         string
	Utxos              []string // emitted as [] when empty, never null
	UtxoCallback       string   // where the sender posts its post-tx callback
	Signature          string   // hex DER over payerIdentifier|payeeIdentifier|SignatureNonce|SignatureTimestamp
	SignatureNonce     string
	SignatureTimestamp int64
	BackingSignatures  []BackingSignature
}

type compliancePayeeWire struct {
	NodePubKey         string             `json:"nodePubKey,omitempty"`
	Utxos              []string           `json:"utxos"`
	UtxoCallback       string             `json:"utxoCallback,omitempty"`
	Signature          string             `json:"signature,omitempty"`
	SignatureNonce     string             `json:"signatureNonce,omitempty"`
	SignatureTimestamp int64              `json:"signatureTimestamp,omitempty"`
	BackingSignatures  []BackingSignature `json:"backingSignatures,omitempty"`
}

// MarshalJSON always writes "utxos" as an array (JS/Kotlin reject null).
func (c CompliancePayeeData) MarshalJSON() ([]byte, error) {
	w := compliancePayeeWire(c)
	w.Utxos = nonNil(w.Utxos)
	return marshalNoEscape(w)
}

func (c *CompliancePayeeData) UnmarshalJSON(b []byte) error {
	var w struct {
		NodePubKey         optString          `json:"nodePubKey"`
		Utxos              []string           `json:"utxos"`
		UtxoCallback       optString          `json:"utxoCallback"`
		Signature          optString          `json:"signature"`
		SignatureNonce     optString          `json:"signatureNonce"`
		SignatureTimestamp flexInt64          `json:"signatureTimestamp"`
		BackingSignatures  []BackingSignature `json:"backingSignatures"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = CompliancePayeeData{
		NodePubKey: string(w.NodePubKey), Utxos: w.Utxos, UtxoCallback: string(w.UtxoCallback),
		Signature: string(w.Signature), SignatureNonce: string(w.SignatureNonce),
		SignatureTimestamp: int64(w.SignatureTimestamp), BackingSignatures: w.BackingSignatures,
	}
	return nil
}
