package uma

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// PayRequest is the sender's POST to the receiver's callback (UMAD-05).
//
// Amount is in the smallest unit of SendingCurrency, or in msats when
// SendingCurrency is empty (wire "amount": "1000.USD" vs "1000000"), and
// ReceivingCurrency is what the receiver converts into ("convert"). The two
// UX modes are therefore:
//
//	receiver-locked: Amount 1000, SendingCurrency "USD", ReceivingCurrency "USD"
//	sender-locked:   Amount 1000000 (msats), SendingCurrency "", ReceivingCurrency "USD"
//
// A v0.3 request ("currency" + numeric amount in that currency) parses with
// V0 set and SendingCurrency = ReceivingCurrency.
type PayRequest struct {
	Amount            int64
	SendingCurrency   string
	ReceivingCurrency string
	PayerData         *PayerData
	PayeeData         CounterpartyDataOptions // what the sender wants to know about the payee
	Comment           string
	InvoiceUUID       string          // set when paying an UMA invoice
	Settlement        *SettlementInfo // nil = Lightning/BTC
	V0                bool            // v0.3 wire shape

	rawPayerData json.RawMessage
}

// IsUMA reports whether r carries UMA payer data (identifier and compliance).
func (r *PayRequest) IsUMA() bool {
	return r.PayerData != nil && r.PayerData.Identifier != "" && r.PayerData.Compliance != nil
}

// IsAmountInMsats reports whether Amount is msats (sender-locked).
func (r *PayRequest) IsAmountInMsats() bool { return r.SendingCurrency == "" }

// SignablePayload is "payerData.identifier|signatureNonce|signatureTimestamp".
func (r *PayRequest) SignablePayload() string {
	if r.PayerData == nil || r.PayerData.Compliance == nil {
		return ""
	}
	c := r.PayerData.Compliance
	return signablePayload(r.PayerData.Identifier, c.SignatureNonce, formatTimestamp(c.SignatureTimestamp))
}

// Sign sets a fresh nonce, the timestamp and the signature of
// PayerData.Compliance; PayerData.Identifier and Compliance must be set.
func (r *PayRequest) Sign(key *PrivateKey, now time.Time) error {
	if !r.IsUMA() {
		return Errorf(CodeInternalError, "pay request needs payerData.identifier and payerData.compliance to sign")
	}
	c := r.PayerData.Compliance
	c.SignatureNonce = NewNonce()
	c.SignatureTimestamp = now.Unix()
	c.Signature = signHex(key, r.SignablePayload())
	r.rawPayerData = nil
	return nil
}

// Verify checks the payer signature with the signing key of the domain of
// PayerData.Identifier (SenderDomain).
func (r *PayRequest) Verify(pub *PublicKey) error {
	if !r.IsUMA() {
		return Errorf(CodeMissingRequiredUMAParameters, "pay request has no UMA payer data")
	}
	return verifyHex(pub, r.SignablePayload(), r.PayerData.Compliance.Signature)
}

// SenderDomain is the domain of PayerData.Identifier, whose keys verify r.
func (r *PayRequest) SenderDomain() (string, error) {
	if r.PayerData == nil {
		return "", Errorf(CodeMissingRequiredUMAParameters, "pay request has no payerData")
	}
	a, err := ParseAddress(r.PayerData.Identifier)
	if err != nil {
		return "", Errorf(CodeMissingRequiredUMAParameters, "payerData.identifier is not an address")
	}
	return a.Domain, nil
}

// CheckMandatoryPayerData returns MISSING_MANDATORY_PAYER_DATA when a key
// that opts (our LnurlpResponse.PayerData) marks mandatory is absent.
func (r *PayRequest) CheckMandatoryPayerData(opts CounterpartyDataOptions) error {
	if missing := missingMandatory(opts, r.PayerData.Has); len(missing) > 0 {
		return Errorf(CodeMissingMandatoryPayerData, "missing mandatory payer data: %s", strings.Join(missing, ", "))
	}
	return nil
}

// PayerDataJSON is payerData exactly as received (for the LUD-18 description
// hash), or as we marshal it for requests we built. nil when absent.
func (r *PayRequest) PayerDataJSON() []byte {
	if r.rawPayerData != nil {
		return r.rawPayerData
	}
	if r.PayerData == nil {
		return nil
	}
	b, _ := json.Marshal(r.PayerData)
	return b
}

// amountString is the v1 "N" or "N.CODE".
func (r *PayRequest) amountString() string {
	s := strconv.FormatInt(r.Amount, 10)
	if r.SendingCurrency != "" {
		s += "." + r.SendingCurrency
	}
	return s
}

type payRequestV1Wire struct {
	Amount      string                  `json:"amount"`
	Convert     string                  `json:"convert,omitempty"`
	PayerData   json.RawMessage         `json:"payerData,omitempty"`
	PayeeData   CounterpartyDataOptions `json:"payeeData,omitempty"`
	Comment     string                  `json:"comment,omitempty"`
	InvoiceUUID string                  `json:"invoiceUUID,omitempty"`
	Settlement  *SettlementInfo         `json:"settlement,omitempty"`
}

type payRequestV0Wire struct {
	Currency  string                  `json:"currency"`
	Amount    int64                   `json:"amount"`
	PayerData json.RawMessage         `json:"payerData,omitempty"`
	PayeeData CounterpartyDataOptions `json:"payeeData,omitempty"`
	Comment   string                  `json:"comment,omitempty"`
}

// MarshalJSON writes the v1 shape (string amount, convert, invoiceUUID —
// which the Go and Python SDKs drop), or the v0.3 shape when V0 is set.
func (r PayRequest) MarshalJSON() ([]byte, error) {
	pd := r.PayerDataJSON()
	if r.V0 {
		if r.SendingCurrency == "" || r.SendingCurrency != r.ReceivingCurrency {
			return nil, Errorf(CodeInvalidInput, "a v0 pay request can only carry an amount in the receiving currency")
		}
		return marshalNoEscape(payRequestV0Wire{r.ReceivingCurrency, r.Amount, pd, r.PayeeData, r.Comment})
	}
	return marshalNoEscape(payRequestV1Wire{r.amountString(), r.ReceivingCurrency, pd, r.PayeeData, r.Comment, r.InvoiceUUID, r.Settlement})
}

// parseAmount reads a JSON string "N"/"N.CODE" or a JSON number.
func parseAmount(raw json.RawMessage) (amount int64, code string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, "", Errorf(CodeParsePayreqRequestError, "missing amount")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, "", Errorf(CodeParsePayreqRequestError, "invalid amount")
		}
		return parseAmountString(s)
	}
	v, err := parseJSONInt64(raw)
	if err != nil || v < 0 {
		return 0, "", Errorf(CodeParsePayreqRequestError, "amount must be a non-negative integer")
	}
	return v, "", nil
}

// parseAmountString reads "N" or "N.CODE" (more than one "." is an error).
func parseAmountString(s string) (int64, string, error) {
	num, code, hasCode := strings.Cut(strings.TrimSpace(s), ".")
	if hasCode && (code == "" || strings.Contains(code, ".") || len(code) > 32) {
		return 0, "", Errorf(CodeParsePayreqRequestError, "invalid amount %q", truncate(s))
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, "", Errorf(CodeParsePayreqRequestError, "invalid amount %q", truncate(s))
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, "", Errorf(CodeParsePayreqRequestError, "amount %q out of range", truncate(s))
	}
	return v, code, nil
}

// UnmarshalJSON reads v1 and v0 shapes, string or numeric amounts, and keeps
// payerData's raw bytes for the description hash.
func (r *PayRequest) UnmarshalJSON(b []byte) error {
	var w struct {
		Amount      json.RawMessage         `json:"amount"`
		Convert     optString               `json:"convert"`
		Currency    optString               `json:"currency"`
		PayerData   json.RawMessage         `json:"payerData"`
		PayeeData   CounterpartyDataOptions `json:"payeeData"`
		Comment     optString               `json:"comment"`
		InvoiceUUID optString               `json:"invoiceUUID"`
		Settlement  *SettlementInfo         `json:"settlement"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return wrapErr(CodeParsePayreqRequestError, err, "invalid pay request")
	}
	// Here, not in ParsePayRequest: json.Unmarshal into a PayRequest must
	// refuse what ParsePayRequest does (b is valid JSON now).
	if err := repeatedKey(b, CodeParsePayreqRequestError, "pay request"); err != nil {
		return err
	}
	amount, code, err := parseAmount(w.Amount)
	if err != nil {
		return err
	}
	*r = PayRequest{
		Amount: amount, SendingCurrency: code, ReceivingCurrency: string(w.Convert), PayeeData: w.PayeeData,
		Comment: string(w.Comment), InvoiceUUID: string(w.InvoiceUUID), Settlement: w.Settlement,
	}
	// v0: "currency" present and "convert" absent; its amount is in that currency.
	if w.Currency != "" && w.Convert == "" {
		if code != "" && code != string(w.Currency) {
			return Errorf(CodeInvalidCurrency, "amount currency %q differs from currency %q", code, string(w.Currency))
		}
		r.V0 = true
		r.ReceivingCurrency = string(w.Currency)
		r.SendingCurrency = string(w.Currency)
	}
	if pd := bytes.TrimSpace(w.PayerData); len(pd) > 0 && string(pd) != "null" {
		// Kept as received (the description hash is over these bytes)
		// and stored: it must be text. encoding/json accepts bytes that
		// are not UTF-8 inside strings.
		if !utf8.Valid(pd) {
			return Errorf(CodeParsePayreqRequestError, "payerData is not valid UTF-8")
		}
		// pd is valid JSON already (part of b), so the method is called
		// directly: json.Unmarshal would validate it once more first.
		r.PayerData = new(PayerData)
		if err := r.PayerData.UnmarshalJSON(pd); err != nil {
			return wrapErr(CodeParsePayreqRequestError, err, "invalid payerData")
		}
		r.rawPayerData = append(json.RawMessage(nil), pd...)
	}
	return nil
}

// ParsePayRequest parses a POSTed pay request body (receiver side). Errors
// are PARSE_PAYREQ_REQUEST_ERROR (INVALID_CURRENCY for a v0 amount whose
// suffix contradicts "currency").
func ParsePayRequest(body []byte) (*PayRequest, error) {
	// UnmarshalJSON validates body itself; through json.Unmarshal it would
	// be scanned twice. A receiver parses every payreq: this is its hot path.
	var r PayRequest
	if err := r.UnmarshalJSON(body); err != nil {
		return nil, wrapErr(CodeParsePayreqRequestError, err, "invalid pay request")
	}
	return &r, nil
}

// payRequestQueryParams are the parameters ParsePayRequestQuery reads.
var payRequestQueryParams = [...]string{"amount", "convert", "comment", "invoiceUUID", "payerData", "payerdata", "payeeData", "settlement"}

// onceEach refuses, with code, a query giving any of names more than once:
// which of two amounts, or signatures, was meant cannot be told, and
// reading the first would answer what the sender may not have asked (a
// proxy or a signed-URL check reading the last would see another request).
func onceEach(q url.Values, code ErrorCode, names ...string) error {
	for _, name := range names {
		if n := len(q[name]); n > 1 {
			return Errorf(code, "query parameter %s is given %d times; it goes once", name, n)
		}
	}
	return nil
}

// ParsePayRequestQuery parses a GET callback query: the plain LNURL form
// (amount in msats, comment, payerdata — LUD-06/12/18) and the UMA SDKs'
// query form (amount N[.CODE], convert, payerData, payeeData, invoiceUUID,
// settlement as JSON).
func ParsePayRequestQuery(q url.Values) (*PayRequest, error) {
	if err := onceEach(q, CodeParsePayreqRequestError, payRequestQueryParams[:]...); err != nil {
		return nil, err
	}
	if q.Has("payerData") && q.Has("payerdata") {
		return nil, Errorf(CodeParsePayreqRequestError, "payer data goes once: as payerData or as payerdata, not both")
	}
	amount, code, err := parseAmountString(q.Get("amount"))
	if err != nil {
		return nil, err
	}
	r := &PayRequest{Amount: amount, SendingCurrency: code, ReceivingCurrency: q.Get("convert"),
		Comment: q.Get("comment"), InvoiceUUID: q.Get("invoiceUUID")}
	pd := q.Get("payerData")
	if pd == "" {
		pd = q.Get("payerdata")
	}
	if pd != "" {
		if !utf8.ValidString(pd) {
			return nil, Errorf(CodeParsePayreqRequestError, "payerData is not valid UTF-8")
		}
		r.PayerData = new(PayerData)
		if err := json.Unmarshal([]byte(pd), r.PayerData); err != nil {
			return nil, wrapErr(CodeParsePayreqRequestError, err, "invalid payerData")
		}
		if err := repeatedKey([]byte(pd), CodeParsePayreqRequestError, "payerData"); err != nil {
			return nil, err
		}
		r.rawPayerData = json.RawMessage(pd)
	}
	if s := q.Get("payeeData"); s != "" {
		if err := json.Unmarshal([]byte(s), &r.PayeeData); err != nil {
			return nil, wrapErr(CodeParsePayreqRequestError, err, "invalid payeeData")
		}
		if err := repeatedKey([]byte(s), CodeParsePayreqRequestError, "payeeData"); err != nil {
			return nil, err
		}
	}
	if s := q.Get("settlement"); s != "" {
		r.Settlement = new(SettlementInfo)
		if err := json.Unmarshal([]byte(s), r.Settlement); err != nil {
			return nil, wrapErr(CodeParsePayreqRequestError, err, "invalid settlement")
		}
		if err := repeatedKey([]byte(s), CodeParsePayreqRequestError, "settlement"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Query encodes r for a GET callback (the inverse of ParsePayRequestQuery).
// lnurlStyle uses LUD-18's lowercase "payerdata" for plain LNURL services;
// UMA SDK peers expect "payerData".
func (r *PayRequest) Query(lnurlStyle bool) url.Values {
	q := url.Values{}
	q.Set("amount", r.amountString())
	if r.ReceivingCurrency != "" {
		q.Set("convert", r.ReceivingCurrency)
	}
	if pd := r.PayerDataJSON(); pd != nil {
		if lnurlStyle {
			q.Set("payerdata", string(pd))
		} else {
			q.Set("payerData", string(pd))
		}
	}
	if r.PayeeData != nil {
		b, _ := json.Marshal(r.PayeeData)
		q.Set("payeeData", string(b))
	}
	if r.Comment != "" {
		q.Set("comment", r.Comment)
	}
	if r.InvoiceUUID != "" {
		q.Set("invoiceUUID", r.InvoiceUUID)
	}
	if r.Settlement != nil {
		b, _ := json.Marshal(r.Settlement)
		q.Set("settlement", string(b))
	}
	return q
}
