package uma

import (
	"encoding/json"
	"time"
)

// LnurlpResponse is the receiver's answer to an LnurlpRequest (UMAD-04,
// LUD-06/16/18/21): where and how much to pay, which currencies it converts
// into, which payer data it needs, and its signed compliance statement.
// Plain LNURL responses parse into the same type with IsUMA() false.
type LnurlpResponse struct {
	Tag         string // "payRequest" (emitted when empty; never checked when parsing)
	Callback    string
	MinSendable int64  // msats
	MaxSendable int64  // msats
	Metadata    string // JSON-encoded array of [mime, value]

	Currencies []Currency
	PayerData  CounterpartyDataOptions
	Compliance *LnurlComplianceResponse
	// UmaVersion is the version the receiver chose (NegotiateVersion). Its
	// major decides the currency shape when marshalling.
	UmaVersion string

	CommentAllowed    int // LUD-12 max comment length; 0 = no comments
	NostrPubkey       string
	AllowsNostr       bool
	SettlementOptions []SettlementOption

	// BackingSignatures at top level is where uma-kotlin-sdk puts them;
	// parsed here and never emitted (we emit them in Compliance).
	BackingSignatures []BackingSignature
}

// LnurlComplianceResponse is the receiver's signed compliance statement.
type LnurlComplianceResponse struct {
	KycStatus             KycStatus
	Signature             string // hex DER over ReceiverIdentifier|SignatureNonce|SignatureTimestamp
	SignatureNonce        string
	SignatureTimestamp    int64 // unix seconds
	IsSubjectToTravelRule bool
	// ReceiverIdentifier is the receiver address exactly as in the request
	// (LnurlpRequest.ReceiverAddress).
	ReceiverIdentifier string
	BackingSignatures  []BackingSignature
}

type lnurlComplianceWire struct {
	KycStatus             KycStatus          `json:"kycStatus"`
	Signature             string             `json:"signature"`
	SignatureNonce        string             `json:"signatureNonce"`
	SignatureTimestamp    int64              `json:"signatureTimestamp"`
	IsSubjectToTravelRule bool               `json:"isSubjectToTravelRule"`
	ReceiverIdentifier    string             `json:"receiverIdentifier"`
	BackingSignatures     []BackingSignature `json:"backingSignatures,omitempty"`
}

// MarshalJSON writes every field (JS/Kotlin parsers require them all).
func (c LnurlComplianceResponse) MarshalJSON() ([]byte, error) {
	return marshalNoEscape(lnurlComplianceWire(c))
}

func (c *LnurlComplianceResponse) UnmarshalJSON(b []byte) error {
	var w struct {
		KycStatus             optString          `json:"kycStatus"`
		Signature             optString          `json:"signature"`
		SignatureNonce        optString          `json:"signatureNonce"`
		SignatureTimestamp    flexInt64          `json:"signatureTimestamp"`
		IsSubjectToTravelRule flexBool           `json:"isSubjectToTravelRule"`
		ReceiverIdentifier    optString          `json:"receiverIdentifier"`
		BackingSignatures     []BackingSignature `json:"backingSignatures"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = LnurlComplianceResponse{
		KycStatus: KycStatus(w.KycStatus), Signature: string(w.Signature), SignatureNonce: string(w.SignatureNonce),
		SignatureTimestamp: int64(w.SignatureTimestamp), IsSubjectToTravelRule: bool(w.IsSubjectToTravelRule),
		ReceiverIdentifier: string(w.ReceiverIdentifier), BackingSignatures: w.BackingSignatures,
	}
	return nil
}

// IsUMA reports whether r is an UMA response (Go/JS rule: compliance,
// umaVersion, currencies and payerData all present).
func (r *LnurlpResponse) IsUMA() bool {
	return r.Compliance != nil && r.UmaVersion != "" && r.Currencies != nil && r.PayerData != nil
}

// isUMAShaped reports whether r is being built as an UMA response (it has a
// compliance statement and a version), whatever its currencies.
func (r *LnurlpResponse) isUMAShaped() bool {
	return r.Compliance != nil && r.UmaVersion != ""
}

// SignablePayload is "receiverIdentifier|signatureNonce|signatureTimestamp".
func (r *LnurlpResponse) SignablePayload() string {
	if r.Compliance == nil {
		return ""
	}
	c := r.Compliance
	return signablePayload(c.ReceiverIdentifier, c.SignatureNonce, formatTimestamp(c.SignatureTimestamp))
}

// Sign sets a fresh nonce, the timestamp and the signature of r.Compliance,
// which must be set (with ReceiverIdentifier = the request's ReceiverAddress).
func (r *LnurlpResponse) Sign(key *PrivateKey, now time.Time) error {
	if r.Compliance == nil || r.Compliance.ReceiverIdentifier == "" {
		return Errorf(CodeInternalError, "lnurlp response needs compliance.receiverIdentifier to sign")
	}
	r.Compliance.SignatureNonce = NewNonce()
	r.Compliance.SignatureTimestamp = now.Unix()
	r.Compliance.Signature = signHex(key, r.SignablePayload())
	return nil
}

// Verify checks the compliance signature with the receiver's signing key.
func (r *LnurlpResponse) Verify(pub *PublicKey) error {
	if r.Compliance == nil {
		return Errorf(CodeMissingRequiredUMAParameters, "lnurlp response has no compliance")
	}
	return verifyHex(pub, r.SignablePayload(), r.Compliance.Signature)
}

// ComplianceBackingSignatures returns the backing signatures wherever the
// peer put them (compliance for Python/JS, top level for Kotlin).
func (r *LnurlpResponse) ComplianceBackingSignatures() []BackingSignature {
	var out []BackingSignature
	if r.Compliance != nil {
		out = append(out, r.Compliance.BackingSignatures...)
	}
	return append(out, r.BackingSignatures...)
}

type lnurlpResponseWire struct {
	Tag               string                   `json:"tag"`
	Callback          string                   `json:"callback"`
	MinSendable       int64                    `json:"minSendable"`
	MaxSendable       int64                    `json:"maxSendable"`
	Metadata          string                   `json:"metadata"`
	Currencies        *[]any                   `json:"currencies,omitempty"` // nil: key omitted; empty: []
	PayerData         CounterpartyDataOptions  `json:"payerData,omitempty"`
	Compliance        *LnurlComplianceResponse `json:"compliance,omitempty"`
	UmaVersion        string                   `json:"umaVersion,omitempty"`
	CommentAllowed    int                      `json:"commentAllowed,omitempty"`
	NostrPubkey       string                   `json:"nostrPubkey,omitempty"`
	AllowsNostr       bool                     `json:"allowsNostr,omitempty"`
	SettlementOptions []SettlementOption       `json:"settlementOptions,omitempty"`
}

// MarshalJSON writes tag "payRequest" (unless Tag says otherwise) and the
// currency shape of UmaVersion's major (v0 for "0.x").
func (r LnurlpResponse) MarshalJSON() ([]byte, error) {
	w := lnurlpResponseWire{
		Tag: r.Tag, Callback: r.Callback, MinSendable: r.MinSendable, MaxSendable: r.MaxSendable,
		Metadata: r.Metadata, PayerData: r.PayerData, Compliance: r.Compliance, UmaVersion: r.UmaVersion,
		CommentAllowed: r.CommentAllowed, NostrPubkey: r.NostrPubkey, AllowsNostr: r.AllowsNostr,
		SettlementOptions: r.SettlementOptions,
	}
	if w.Tag == "" {
		w.Tag = "payRequest"
	}
	major := majorOf(r.UmaVersion)
	// An UMA response always carries the key, [] when empty: the Go and JS
	// SDKs read a response without it as plain LNURL. A plain LNURL
	// response carries it only when it has currencies (LUD-21).
	if len(r.Currencies) > 0 || r.isUMAShaped() {
		cs := make([]any, len(r.Currencies))
		for i, c := range r.Currencies {
			cs[i] = c.wire(major)
		}
		w.Currencies = &cs
	}
	return marshalNoEscape(w)
}

// UnmarshalJSON is liberal: unknown keys ignored, any tag, numbers as
// strings, null for optional fields.
func (r *LnurlpResponse) UnmarshalJSON(b []byte) error {
	var w struct {
		Tag               optString                `json:"tag"`
		Callback          optString                `json:"callback"`
		MinSendable       flexInt64                `json:"minSendable"`
		MaxSendable       flexInt64                `json:"maxSendable"`
		Metadata          optString                `json:"metadata"`
		Currencies        []Currency               `json:"currencies"`
		PayerData         CounterpartyDataOptions  `json:"payerData"`
		Compliance        *LnurlComplianceResponse `json:"compliance"`
		UmaVersion        optString                `json:"umaVersion"`
		CommentAllowed    flexInt64                `json:"commentAllowed"`
		NostrPubkey       optString                `json:"nostrPubkey"`
		AllowsNostr       flexBool                 `json:"allowsNostr"`
		SettlementOptions []SettlementOption       `json:"settlementOptions"`
		BackingSignatures []BackingSignature       `json:"backingSignatures"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.CommentAllowed < 0 || w.CommentAllowed > 1<<20 {
		w.CommentAllowed = 0
	}
	*r = LnurlpResponse{
		Tag: string(w.Tag), Callback: string(w.Callback), MinSendable: int64(w.MinSendable),
		MaxSendable: int64(w.MaxSendable), Metadata: string(w.Metadata), Currencies: w.Currencies,
		PayerData: w.PayerData, Compliance: w.Compliance, UmaVersion: string(w.UmaVersion),
		CommentAllowed: int(w.CommentAllowed), NostrPubkey: string(w.NostrPubkey), AllowsNostr: bool(w.AllowsNostr),
		SettlementOptions: w.SettlementOptions, BackingSignatures: w.BackingSignatures,
	}
	return nil
}

// ParseLnurlpResponse parses the receiver's answer (sender side). Errors are
// PARSE_LNURLP_RESPONSE_ERROR; an error body ({"status":"ERROR",...}, which
// LNURL peers may send with HTTP 200) is returned as that *Error, with its
// code (LNURLP_REQUEST_FAILED when it has none).
func ParseLnurlpResponse(body []byte) (*LnurlpResponse, error) {
	if e, ok := ParseErrorBody(body); ok {
		if e.Code == "" {
			e.Code = CodeLnurlpRequestFailed
		}
		return nil, e
	}
	var r LnurlpResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, wrapErr(CodeParseLnurlpResponseError, err, "invalid lnurlp response")
	}
	if err := repeatedKey(body, CodeParseLnurlpResponseError, "lnurlp response"); err != nil {
		return nil, err
	}
	if r.Callback == "" {
		return nil, Errorf(CodeParseLnurlpResponseError, "lnurlp response has no callback")
	}
	if r.MinSendable < 0 || r.MaxSendable < r.MinSendable {
		return nil, Errorf(CodeParseLnurlpResponseError, "lnurlp response has an invalid min/maxSendable range")
	}
	return &r, nil
}

// BuildMetadata returns the LUD-06/16 metadata string for a receiver:
// [["text/plain", description], ["text/identifier", identifier]].
func BuildMetadata(description, identifier string) string {
	b, _ := marshalNoEscape([][2]string{{"text/plain", description}, {"text/identifier", identifier}})
	return string(b)
}
