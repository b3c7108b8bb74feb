package uma

import (
	"bytes"
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd/uma/internal/bech32"
)

// Invoice is an UMA invoice (UMAD-09): a receiver-signed payment request
// that lets a sender skip the LNURLP step. Its string form is bech32 (HRP
// "uma", no length limit) over a TLV blob; as a link it is "uma://<bech32>".
//
// We emit integers in binary (Python/JS/Kotlin format) and read both binary
// and the uma-go-sdk's decimal text. The signature is checked over the bytes
// as received minus the signature record, so field order and integer
// encoding of other implementations do not matter.
type Invoice struct {
	ReceiverUMA           string // tag 0, required; its domain's key signs
	InvoiceUUID           string // tag 1, required
	Amount                int64  // tag 2, required, smallest unit of ReceivingCurrency
	ReceivingCurrency     InvoiceCurrency
	Expiration            int64 // tag 4, required, unix seconds (ms on the wire is normalised)
	IsSubjectToTravelRule bool  // tag 5, required
	RequiredPayerData     CounterpartyDataOptions
	UmaVersions           string // tag 7, required, e.g. "1.0"
	CommentCharsAllowed   int    // tag 8, 0 = absent
	SenderUMA             string // tag 9, set when addressed to one sender
	MaxNumPayments        int    // tag 10, 0 = absent
	KycStatus             KycStatus
	Callback              string // tag 12, required: the payreq URL
	Signature             []byte // tag 100, raw DER

	signable []byte // bytes as received, minus the tag-100 record
}

// InvoiceCurrency is tag 3: code, name, symbol, decimals.
type InvoiceCurrency struct {
	Code     string
	Name     string
	Symbol   string
	Decimals int
}

const (
	tagReceiverUMA = 0
	tagInvoiceUUID = 1
	tagAmount      = 2
	tagCurrency    = 3
	tagExpiration  = 4
	tagTravelRule  = 5
	tagPayerData   = 6
	tagVersions    = 7
	tagComment     = 8
	tagSenderUMA   = 9
	tagMaxPayments = 10
	tagKycStatus   = 11
	tagCallback    = 12
	tagSignature   = 100

	// maxInvoiceTLV keeps invoices readable by the JS SDK (512-byte buffer).
	maxInvoiceTLV = 512
	// maxInvoiceChars bounds decoding work on hostile input.
	maxInvoiceChars = 4096
)

// signableBytes encodes every field but the signature, in tag order.
func (inv *Invoice) signableBytes() ([]byte, error) {
	w := &tlvWriter{}
	w.str(tagReceiverUMA, inv.ReceiverUMA)
	w.str(tagInvoiceUUID, inv.InvoiceUUID)
	w.int(tagAmount, inv.Amount)
	cw := &tlvWriter{}
	cw.str(0, inv.ReceivingCurrency.Code)
	if inv.ReceivingCurrency.Name != "" {
		cw.str(1, inv.ReceivingCurrency.Name)
	}
	if inv.ReceivingCurrency.Symbol != "" {
		cw.str(2, inv.ReceivingCurrency.Symbol)
	}
	cw.int(3, int64(inv.ReceivingCurrency.Decimals))
	if cw.err != nil {
		return nil, cw.err
	}
	w.bytes(tagCurrency, cw.buf)
	w.int(tagExpiration, inv.Expiration)
	w.bool(tagTravelRule, inv.IsSubjectToTravelRule)
	if len(inv.RequiredPayerData) > 0 {
		w.str(tagPayerData, inv.RequiredPayerData.encodeInvoiceString())
	}
	w.str(tagVersions, inv.UmaVersions)
	if inv.CommentCharsAllowed > 0 {
		w.int(tagComment, int64(inv.CommentCharsAllowed))
	}
	if inv.SenderUMA != "" {
		w.str(tagSenderUMA, inv.SenderUMA)
	}
	if inv.MaxNumPayments > 0 {
		w.int(tagMaxPayments, int64(inv.MaxNumPayments))
	}
	if inv.KycStatus != "" {
		w.str(tagKycStatus, string(inv.KycStatus))
	}
	w.str(tagCallback, inv.Callback)
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// Sign signs the invoice's fields (tag order, binary integers) with our
// signing key. Fields must not change afterwards.
func (inv *Invoice) Sign(key *PrivateKey) error {
	if inv.Amount < 0 || inv.Expiration <= 0 || inv.ReceivingCurrency.Decimals < 0 || inv.ReceivingCurrency.Decimals > MaxDecimals {
		return Errorf(CodeInvalidInput, "invoice amount, expiration or decimals out of range")
	}
	b, err := inv.signableBytes()
	if err != nil {
		return wrapErr(CodeInvalidInput, err, "cannot encode invoice")
	}
	inv.signable = b
	inv.Signature = SignPayload(key, b)
	return nil
}

// Encode returns the bech32 string "uma1...". The invoice must be signed
// (by Sign) or decoded; a decoded invoice re-encodes to its original bytes.
func (inv *Invoice) Encode() (string, error) {
	if len(inv.Signature) == 0 || inv.signable == nil {
		return "", Errorf(CodeInvalidInput, "invoice is not signed")
	}
	w := &tlvWriter{buf: append([]byte(nil), inv.signable...)}
	w.bytes(tagSignature, inv.Signature)
	if w.err != nil {
		return "", wrapErr(CodeInvalidInput, w.err, "cannot encode invoice")
	}
	if len(w.buf) > maxInvoiceTLV {
		return "", Errorf(CodeInvalidInput, "invoice is %d bytes, more than %d", len(w.buf), maxInvoiceTLV)
	}
	s, err := bech32.Encode("uma", w.buf)
	if err != nil {
		return "", wrapErr(CodeInvalidInput, err, "cannot encode invoice")
	}
	return s, nil
}

// URI is "uma://" + Encode().
func (inv *Invoice) URI() (string, error) {
	s, err := inv.Encode()
	if err != nil {
		return "", err
	}
	return "uma://" + s, nil
}

// SignablePayload returns the bytes the signature covers (as received for
// decoded invoices).
func (inv *Invoice) SignablePayload() ([]byte, error) {
	if inv.signable != nil {
		return inv.signable, nil
	}
	return inv.signableBytes()
}

// Verify checks the signature with the signing key of ReceiverUMA's domain.
func (inv *Invoice) Verify(pub *PublicKey) error {
	if len(inv.Signature) == 0 {
		return Errorf(CodeInvalidSignature, "invoice is not signed")
	}
	b, err := inv.SignablePayload()
	if err != nil {
		return wrapErr(CodeInvalidInvoice, err, "cannot encode invoice")
	}
	return VerifyPayload(pub, b, inv.Signature)
}

// ExpiresAt is Expiration as a time.
func (inv *Invoice) ExpiresAt() time.Time { return time.Unix(inv.Expiration, 0) }

// Expired reports whether the invoice is expired at now.
func (inv *Invoice) Expired(now time.Time) bool { return !now.Before(inv.ExpiresAt()) }

// DecodeInvoice parses "uma1..." or "uma://uma1...". Malformed input is
// INVALID_INVOICE; missing required fields are MISSING_REQUIRED_UMA_PARAMETERS
// (as in the Kotlin SDK). It does not verify the signature or expiry.
func DecodeInvoice(s string) (*Invoice, error) {
	hrp, data, err := bech32.Decode(trimInvoiceLink(s), maxInvoiceChars)
	if err != nil {
		return nil, wrapErr(CodeInvalidInvoice, err, "invalid invoice encoding")
	}
	if hrp != "uma" {
		return nil, Errorf(CodeInvalidInvoice, "invoice prefix must be uma1")
	}
	return decodeInvoiceTLV(data)
}

// trimInvoiceLink is s without the spaces around it and the "uma://" or
// "uma:" (either case) before it, which DecodeInvoice reads through.
func trimInvoiceLink(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 6 && strings.EqualFold(s[:6], "uma://") {
		s = s[6:]
	} else if len(s) >= 4 && strings.EqualFold(s[:4], "uma:") {
		s = s[4:]
	}
	return s
}

// InvoiceString is s, an invoice or its link that DecodeInvoice read, as
// the bech32 invoice in lower case ("uma1…"), the form an invoice is
// shown and kept in, and its "uma://" link made from.
func InvoiceString(s string) string { return strings.ToLower(trimInvoiceLink(s)) }

func decodeInvoiceTLV(data []byte) (*Invoice, error) {
	recs, err := parseTLV(data)
	if err != nil {
		return nil, wrapErr(CodeInvalidInvoice, err, "invalid invoice")
	}
	inv := &Invoice{}
	byTag := map[byte][]byte{}
	var signable []byte
	for _, r := range recs {
		byTag[r.tag] = r.value
		if r.tag != tagSignature {
			signable = append(signable, data[r.start:r.end]...)
		}
	}
	inv.signable = signable
	if signable == nil {
		inv.signable = []byte{}
	}
	var missing []string
	for _, req := range []struct {
		tag  byte
		name string
	}{{tagReceiverUMA, "receiverUma"}, {tagInvoiceUUID, "invoiceUUID"}, {tagAmount, "amount"}, {tagCurrency, "receivingCurrency"},
		{tagExpiration, "expiration"}, {tagTravelRule, "isSubjectToTravelRule"}, {tagVersions, "umaVersions"}, {tagCallback, "callback"}} {
		if _, ok := byTag[req.tag]; !ok {
			missing = append(missing, req.name)
		}
	}
	if len(missing) > 0 {
		return nil, Errorf(CodeMissingRequiredUMAParameters, "invoice is missing required fields: %s", strings.Join(missing, ", "))
	}
	ascii := looksASCIIEncoded(byTag[tagExpiration])
	readInt := func(name string, b []byte) (int64, error) {
		var v int64
		var ok bool
		if ascii {
			v, ok = decodeASCIIInt(b)
		} else {
			v, ok = decodeBinaryInt(b)
		}
		if !ok {
			return 0, Errorf(CodeInvalidInvoice, "invalid integer in invoice field %s", name)
		}
		return v, nil
	}
	inv.ReceiverUMA = string(byTag[tagReceiverUMA])
	inv.InvoiceUUID = string(byTag[tagInvoiceUUID])
	inv.UmaVersions = string(byTag[tagVersions])
	inv.Callback = string(byTag[tagCallback])
	inv.SenderUMA = string(byTag[tagSenderUMA])
	inv.KycStatus = KycStatus(byTag[tagKycStatus])
	if inv.Amount, err = readInt("amount", byTag[tagAmount]); err != nil {
		return nil, err
	}
	if inv.Amount < 0 {
		return nil, Errorf(CodeInvalidInvoice, "negative invoice amount")
	}
	if inv.Expiration, err = readInt("expiration", byTag[tagExpiration]); err != nil {
		return nil, err
	}
	if inv.Expiration > 1e11 { // milliseconds (the JS demo writes them)
		inv.Expiration /= 1000
	}
	switch tr := byTag[tagTravelRule]; {
	case bytes.Equal(tr, []byte{1}) || bytes.Equal(tr, []byte("1")):
		inv.IsSubjectToTravelRule = true
	case bytes.Equal(tr, []byte{0}) || bytes.Equal(tr, []byte("0")):
	default:
		return nil, Errorf(CodeInvalidInvoice, "invalid isSubjectToTravelRule")
	}
	if v, ok := byTag[tagComment]; ok {
		n, err := readInt("commentCharsAllowed", v)
		if err != nil || n < 0 || n > 1<<20 {
			return nil, Errorf(CodeInvalidInvoice, "invalid commentCharsAllowed")
		}
		inv.CommentCharsAllowed = int(n)
	}
	if v, ok := byTag[tagMaxPayments]; ok {
		n, err := readInt("maxNumPayments", v)
		if err != nil || n < 0 || n > 1<<30 {
			return nil, Errorf(CodeInvalidInvoice, "invalid maxNumPayments")
		}
		inv.MaxNumPayments = int(n)
	}
	if v, ok := byTag[tagPayerData]; ok {
		if inv.RequiredPayerData, err = decodeDataOptionsInvoiceString(string(v)); err != nil {
			return nil, err
		}
	}
	crecs, err := parseTLV(byTag[tagCurrency])
	if err != nil {
		return nil, wrapErr(CodeInvalidInvoice, err, "invalid receivingCurrency")
	}
	for _, r := range crecs {
		switch r.tag {
		case 0:
			inv.ReceivingCurrency.Code = string(r.value)
		case 1:
			inv.ReceivingCurrency.Name = string(r.value)
		case 2:
			inv.ReceivingCurrency.Symbol = string(r.value)
		case 3:
			d, err := readInt("decimals", r.value)
			if err != nil || d < 0 || d > MaxDecimals {
				return nil, Errorf(CodeInvalidInvoice, "invalid currency decimals")
			}
			inv.ReceivingCurrency.Decimals = int(d)
		}
	}
	if inv.ReceivingCurrency.Code == "" {
		return nil, Errorf(CodeInvalidInvoice, "invoice currency has no code")
	}
	// Text fields are kept and shown: bytes that are not UTF-8 are no text,
	// nor is a NUL (valid UTF-8, but no database text column stores it).
	c := inv.ReceivingCurrency
	for _, f := range []string{inv.ReceiverUMA, inv.InvoiceUUID, inv.UmaVersions, inv.Callback, inv.SenderUMA,
		string(inv.KycStatus), c.Code, c.Name, c.Symbol} {
		if !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
			return nil, Errorf(CodeInvalidInvoice, "invoice text fields must be UTF-8 text without NUL")
		}
	}
	inv.Signature = byTag[tagSignature]
	return inv, nil
}

// VerifyInvoice checks an invoice we are asked to pay: signature with the
// keys of ReceiverUMA's domain (fetched anew once if it fails with cached
// ones, see KeyRefresher), and expiry (INVOICE_EXPIRED). Invoices carry no
// nonce. It returns the receiver's keys.
func (v *Verifier) VerifyInvoice(ctx context.Context, inv *Invoice) (*PublicKeys, error) {
	if v.Keys == nil {
		return nil, Errorf(CodeInternalError, "verifier needs Keys")
	}
	if inv.Expired(v.now()) {
		return nil, Errorf(CodeInvoiceExpired, "invoice %s expired at %s", truncate(inv.InvoiceUUID), inv.ExpiresAt().UTC().Format(time.RFC3339))
	}
	recv, err := ParseAddress(inv.ReceiverUMA)
	if err != nil {
		return nil, Errorf(CodeInvalidInvoice, "invoice receiverUma is not an address")
	}
	kctx, cancel := v.keyContext(ctx)
	defer cancel()
	keys, err := v.Keys.PublicKeys(kctx, recv.Domain)
	if err != nil {
		return nil, err
	}
	if err := inv.Verify(keys.Signing); err != nil {
		// As for the other messages: a receiver that rotated its keys
		// signs with the new ones while the old may be cached for hours.
		if keys, err = v.refreshed(kctx, recv.Domain, keys, err, func(k *PublicKeys) error { return inv.Verify(k.Signing) }); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
