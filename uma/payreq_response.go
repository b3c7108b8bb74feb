package uma

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// PayReqResponse is the receiver's answer to a PayRequest (UMAD-06): the
// Lightning invoice, the conversion it committed to, and signed payee data.
// A v0.3 answer (top-level unsigned "compliance" and "paymentInfo") parses
// with V0 set, its compliance in PayeeData.Compliance and its paymentInfo
// in Converted (Amount 0: v0 did not state it).
type PayReqResponse struct {
	PR            string // BOLT11 (or the settlement layer's payment request)
	Converted     *Converted
	PayeeData     *PayeeData
	Disposable    *bool           // LUD-11; UMA receivers must not send false
	SuccessAction json.RawMessage // LUD-09, passed through
	V0            bool            // v0.3 wire shape
}

// Converted is the receiver's committed conversion, valid until the
// invoice expires.
type Converted struct {
	Amount       int64   `json:"amount"`       // receiving-currency smallest units, excluding fee
	CurrencyCode string  `json:"currencyCode"` // = PayRequest.ReceivingCurrency
	Decimals     int     `json:"decimals"`
	Multiplier   float64 `json:"multiplier"` // msats per smallest unit
	Fee          int64   `json:"fee"`        // receiver's conversion fee in msats
}

func (c *Converted) UnmarshalJSON(b []byte) error {
	var w struct {
		Amount       flexInt64  `json:"amount"`
		CurrencyCode optString  `json:"currencyCode"`
		Decimals     flexInt64  `json:"decimals"`
		Multiplier   flexFloat  `json:"multiplier"`
		Fee          *flexInt64 `json:"fee"`
		// Python writes both; v0 and Kotlin spell the fee differently.
		ExchangeFeesMillisatoshi *flexInt64 `json:"exchangeFeesMillisatoshi"`
		ExchangeFees             *flexInt64 `json:"exchangeFees"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Decimals < 0 || w.Decimals > 1000 {
		return Errorf(CodeInvalidCurrency, "decimals out of range")
	}
	*c = Converted{Amount: int64(w.Amount), CurrencyCode: string(w.CurrencyCode), Decimals: int(w.Decimals), Multiplier: float64(w.Multiplier)}
	switch {
	case w.Fee != nil:
		c.Fee = int64(*w.Fee)
	case w.ExchangeFeesMillisatoshi != nil:
		c.Fee = int64(*w.ExchangeFeesMillisatoshi)
	case w.ExchangeFees != nil:
		c.Fee = int64(*w.ExchangeFees)
	}
	return nil
}

// IsUMA reports whether r carries UMA payee compliance data.
func (r *PayReqResponse) IsUMA() bool {
	return r.PayeeData != nil && r.PayeeData.Compliance != nil && (r.V0 || r.Converted != nil)
}

// SignablePayload is "payerIdentifier|payeeIdentifier|signatureNonce|signatureTimestamp".
func (r *PayReqResponse) SignablePayload(payerIdentifier, payeeIdentifier string) string {
	if r.PayeeData == nil || r.PayeeData.Compliance == nil {
		return ""
	}
	c := r.PayeeData.Compliance
	return signablePayload(payerIdentifier, payeeIdentifier, c.SignatureNonce, formatTimestamp(c.SignatureTimestamp))
}

// Sign sets a fresh nonce, the timestamp and the signature of
// PayeeData.Compliance. PayeeData.Identifier must be the receiver address
// exactly as it appears in the signature (with "$" and port): Kotlin and
// Python verifiers take it from there. payerIdentifier is the request's
// PayerData.Identifier.
func (r *PayReqResponse) Sign(key *PrivateKey, payerIdentifier string, now time.Time) error {
	if r.PayeeData == nil || r.PayeeData.Compliance == nil || r.PayeeData.Identifier == "" || payerIdentifier == "" {
		return Errorf(CodeInternalError, "payreq response needs payeeData.identifier, payeeData.compliance and the payer identifier to sign")
	}
	c := r.PayeeData.Compliance
	c.SignatureNonce = NewNonce()
	c.SignatureTimestamp = now.Unix()
	c.Signature = signHex(key, r.SignablePayload(payerIdentifier, r.PayeeData.Identifier))
	return nil
}

// Verify checks the payee signature with the receiver's signing key.
// payerIdentifier is the one we sent; receiverAddress the address we paid.
// The signed payee identifier is taken from payeeData.identifier (Kotlin,
// Python) and, failing that, is the receiver address (Go, JS; the JS SDK
// leaves payeeData.identifier out). Verify does not check that the two
// agree; Verifier.VerifyPayReqResponse does.
func (r *PayReqResponse) Verify(pub *PublicKey, payerIdentifier, receiverAddress string) error {
	if r.V0 {
		return Errorf(CodeInvalidInput, "v0 payreq responses are not signed")
	}
	if r.PayeeData == nil || r.PayeeData.Compliance == nil {
		return Errorf(CodeMissingRequiredUMAParameters, "payreq response has no payeeData.compliance")
	}
	sig := r.PayeeData.Compliance.Signature
	var err error
	for _, id := range []string{r.PayeeData.Identifier, receiverAddress} {
		if id == "" {
			continue
		}
		if err = verifyHex(pub, r.SignablePayload(payerIdentifier, id), sig); err == nil {
			return nil
		}
	}
	if err == nil {
		err = Errorf(CodeInvalidSignature, "no payee identifier to verify against")
	}
	return err
}

// CheckMandatoryPayeeData returns MISSING_MANDATORY_PAYEE_DATA when a key
// that opts (our PayRequest.PayeeData) marks mandatory is absent.
func (r *PayReqResponse) CheckMandatoryPayeeData(opts CounterpartyDataOptions) error {
	if missing := missingMandatory(opts, r.PayeeData.Has); len(missing) > 0 {
		return Errorf(CodeMissingMandatoryPayeeData, "missing mandatory payee data: %s", strings.Join(missing, ", "))
	}
	return nil
}

type payReqResponseV1Wire struct {
	PR            string          `json:"pr"`
	Routes        []struct{}      `json:"routes"`
	Converted     *Converted      `json:"converted,omitempty"`
	PayeeData     *PayeeData      `json:"payeeData,omitempty"`
	Disposable    *bool           `json:"disposable,omitempty"`
	SuccessAction json.RawMessage `json:"successAction,omitempty"`
}

type paymentInfoV0 struct {
	CurrencyCode             string  `json:"currencyCode"`
	Multiplier               float64 `json:"multiplier"`
	Decimals                 int     `json:"decimals"`
	ExchangeFeesMillisatoshi int64   `json:"exchangeFeesMillisatoshi"`
}

type complianceV0 struct {
	NodePubKey   string   `json:"nodePubKey,omitempty"`
	Utxos        []string `json:"utxos"`
	UtxoCallback string   `json:"utxoCallback,omitempty"`
}

type payReqResponseV0Wire struct {
	PR            string          `json:"pr"`
	Routes        []struct{}      `json:"routes"`
	Compliance    *complianceV0   `json:"compliance,omitempty"`
	PaymentInfo   *paymentInfoV0  `json:"paymentInfo,omitempty"`
	Disposable    *bool           `json:"disposable,omitempty"`
	SuccessAction json.RawMessage `json:"successAction,omitempty"`
}

// MarshalJSON writes "routes": [] always, "utxos": [] never null, and no
// exchangeFeesMillisatoshi alias in v1 (it makes the JS SDK drop the amount).
func (r PayReqResponse) MarshalJSON() ([]byte, error) {
	if r.V0 {
		w := payReqResponseV0Wire{PR: r.PR, Routes: []struct{}{}, Disposable: r.Disposable, SuccessAction: r.SuccessAction}
		if r.PayeeData != nil && r.PayeeData.Compliance != nil {
			c := r.PayeeData.Compliance
			w.Compliance = &complianceV0{c.NodePubKey, nonNil(c.Utxos), c.UtxoCallback}
		}
		if c := r.Converted; c != nil {
			w.PaymentInfo = &paymentInfoV0{c.CurrencyCode, c.Multiplier, c.Decimals, c.Fee}
		}
		return marshalNoEscape(w)
	}
	return marshalNoEscape(payReqResponseV1Wire{r.PR, []struct{}{}, r.Converted, r.PayeeData, r.Disposable, r.SuccessAction})
}

func (r *PayReqResponse) UnmarshalJSON(b []byte) error {
	var w struct {
		PR            optString            `json:"pr"`
		Converted     *Converted           `json:"converted"`
		PayeeData     *PayeeData           `json:"payeeData"`
		Disposable    *bool                `json:"disposable"`
		SuccessAction json.RawMessage      `json:"successAction"`
		Compliance    *CompliancePayeeData `json:"compliance"`
		PaymentInfo   *Converted           `json:"paymentInfo"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = PayReqResponse{PR: string(w.PR), Converted: w.Converted, PayeeData: w.PayeeData, Disposable: w.Disposable}
	if sa := bytes.TrimSpace(w.SuccessAction); len(sa) > 0 && string(sa) != "null" {
		r.SuccessAction = append(json.RawMessage(nil), sa...)
	}
	// Go: "paymentInfo" ⇒ v0; Kotlin: top-level "compliance" ⇒ v0.
	if w.PaymentInfo != nil || (w.Compliance != nil && w.PayeeData == nil) {
		r.V0 = true
		if r.Converted == nil {
			r.Converted = w.PaymentInfo
		}
		if w.Compliance != nil {
			if r.PayeeData == nil {
				r.PayeeData = &PayeeData{}
			}
			r.PayeeData.Compliance = w.Compliance
		}
	}
	return nil
}

// ParsePayReqResponse parses the receiver's answer (sender side). Errors are
// PARSE_PAYREQ_RESPONSE_ERROR; an error body is returned as that *Error
// (PAYREQ_REQUEST_FAILED when it has no code).
func ParsePayReqResponse(body []byte) (*PayReqResponse, error) {
	if e, ok := ParseErrorBody(body); ok {
		if e.Code == "" {
			e.Code = CodePayreqRequestFailed
		}
		return nil, e
	}
	var r PayReqResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, wrapErr(CodeParsePayreqResponseError, err, "invalid payreq response")
	}
	if err := repeatedKey(body, CodeParsePayreqResponseError, "payreq response"); err != nil {
		return nil, err
	}
	if r.PR == "" {
		return nil, Errorf(CodeParsePayreqResponseError, "payreq response has no pr")
	}
	return &r, nil
}
