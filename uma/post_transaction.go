package uma

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// PostTransactionCallback is POSTed to the counterparty's utxoCallback after
// a payment (UMAD-07): by the sender after paying, by the receiver after
// being paid. It is signed over "signatureNonce|signatureTimestamp" only,
// with the key of VaspDomain.
type PostTransactionCallback struct {
	Utxos              []UtxoWithAmount
	VaspDomain         string // poster's domain; its keys verify the signature
	Signature          string
	SignatureNonce     string
	SignatureTimestamp int64

	// Optional outcome (Python 1.5.7+/Kotlin).
	TransactionStatus TransactionStatus
	ErrorCode         ErrorCode // only with TransactionFailed
	ErrorReason       string
}

// UtxoWithAmount is one channel output used by the payment.
type UtxoWithAmount struct {
	Utxo        string `json:"utxo"` // "<txid>:<vout>"
	AmountMsats int64  `json:"amountMsats"`
}

// TransactionStatus is the outcome reported in a post-transaction callback.
type TransactionStatus string

const (
	TransactionCompleted TransactionStatus = "COMPLETED"
	TransactionFailed    TransactionStatus = "FAILED"
)

// SignablePayload is "signatureNonce|signatureTimestamp".
func (c *PostTransactionCallback) SignablePayload() string {
	return signablePayload(c.SignatureNonce, formatTimestamp(c.SignatureTimestamp))
}

// Sign sets a fresh nonce, the timestamp and the signature.
func (c *PostTransactionCallback) Sign(key *PrivateKey, now time.Time) {
	c.SignatureNonce = NewNonce()
	c.SignatureTimestamp = now.Unix()
	c.Signature = signHex(key, c.SignablePayload())
}

// IsV0 reports whether c is an unsigned v0 callback (only utxos).
func (c *PostTransactionCallback) IsV0() bool { return c.Signature == "" && c.VaspDomain == "" }

// Verify checks the signature with the signing key of VaspDomain.
func (c *PostTransactionCallback) Verify(pub *PublicKey) error {
	if c.IsV0() {
		return Errorf(CodeMissingRequiredUMAParameters, "post-transaction callback is unsigned (a v0 callback?)")
	}
	return verifyHex(pub, c.SignablePayload(), c.Signature)
}

type postTxWire struct {
	Utxos              []UtxoWithAmount  `json:"utxos"`
	VaspDomain         string            `json:"vaspDomain,omitempty"`
	Signature          string            `json:"signature,omitempty"`
	SignatureNonce     string            `json:"signatureNonce,omitempty"`
	SignatureTimestamp int64             `json:"signatureTimestamp,omitempty"`
	TransactionStatus  TransactionStatus `json:"transactionStatus,omitempty"`
	ErrorCode          ErrorCode         `json:"errorCode,omitempty"`
	ErrorReason        string            `json:"errorReason,omitempty"`
}

// MarshalJSON writes "utxos" as [] when empty.
func (c PostTransactionCallback) MarshalJSON() ([]byte, error) {
	w := postTxWire(c)
	w.Utxos = nonNil(w.Utxos)
	return marshalNoEscape(w)
}

func (c *PostTransactionCallback) UnmarshalJSON(b []byte) error {
	var w struct {
		Utxos []struct {
			Utxo        optString `json:"utxo"`
			AmountMsats flexInt64 `json:"amountMsats"`
		} `json:"utxos"`
		VaspDomain         optString `json:"vaspDomain"`
		Signature          optString `json:"signature"`
		SignatureNonce     optString `json:"signatureNonce"`
		SignatureTimestamp flexInt64 `json:"signatureTimestamp"`
		TransactionStatus  optString `json:"transactionStatus"`
		ErrorCode          optString `json:"errorCode"`
		ErrorReason        optString `json:"errorReason"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = PostTransactionCallback{
		VaspDomain: string(w.VaspDomain), Signature: string(w.Signature), SignatureNonce: string(w.SignatureNonce),
		SignatureTimestamp: int64(w.SignatureTimestamp), TransactionStatus: TransactionStatus(w.TransactionStatus),
		ErrorCode: ErrorCode(w.ErrorCode), ErrorReason: string(w.ErrorReason),
	}
	for _, u := range w.Utxos {
		c.Utxos = append(c.Utxos, UtxoWithAmount{Utxo: string(u.Utxo), AmountMsats: int64(u.AmountMsats)})
	}
	return nil
}

// ParsePostTransactionCallback parses a callback body. Errors are
// PARSE_UTXO_CALLBACK_ERROR.
func ParsePostTransactionCallback(body []byte) (*PostTransactionCallback, error) {
	// Receivers keep the body as received: it must be text, which
	// encoding/json does not check inside strings.
	if !utf8.Valid(body) {
		return nil, Errorf(CodeParseUTXOCallbackError, "post-transaction callback is not valid UTF-8")
	}
	var c PostTransactionCallback
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, wrapErr(CodeParseUTXOCallbackError, err, "invalid post-transaction callback")
	}
	if err := repeatedKey(body, CodeParseUTXOCallbackError, "post-transaction callback"); err != nil {
		return nil, err
	}
	if c.VaspDomain != "" {
		if err := ValidateDomain(c.VaspDomain); err != nil {
			return nil, Errorf(CodeParseUTXOCallbackError, "invalid vaspDomain")
		}
	}
	return &c, nil
}
