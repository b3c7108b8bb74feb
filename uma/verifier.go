package uma

import (
	"context"
	"strings"
	"time"
)

// Verifier checks incoming signed messages completely: it fetches the right
// counterparty key for each message, verifies the signature, checks the
// timestamp window, verifies backing signatures when present, and only
// then records the nonce (so junk cannot burn nonces).
//
// Keys and Nonces are required; the other fields have defaults.
type Verifier struct {
	Keys   PublicKeySource
	Nonces NonceCache
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge rejects signatures older than this (INVALID_NONCE, as the
	// SDKs do); default 24h. Keep nonces stored at least this long.
	MaxAge time.Duration
	// MaxFutureSkew rejects signatures dated later than now + skew
	// (INVALID_TIMESTAMP); default 10 minutes. No SDK checks this.
	MaxFutureSkew time.Duration
	// SkipBackingSignatures disables verification of backing signatures.
	SkipBackingSignatures bool
	// KeyTimeout bounds the key fetches of one message together: its
	// signer's keys, their refresh and those of each of its backing
	// signers (up to ten, each a fetch from a domain the sender names,
	// each as slow as the fetch's own timeout allows). 0: no bound
	// beyond each fetch's.
	KeyTimeout time.Duration
}

// keyContext is ctx bounded by KeyTimeout, for one message's key fetches.
func (v *Verifier) keyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if v.KeyTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, v.KeyTimeout)
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkTimestamp applies the window.
func (v *Verifier) checkTimestamp(ts int64) error {
	now := v.now()
	maxAge, skew := v.MaxAge, v.MaxFutureSkew
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	if skew <= 0 {
		skew = 10 * time.Minute
	}
	// Compare in seconds to stay clear of time.Duration overflow on hostile values.
	sec := now.Unix()
	if ts > sec+int64(skew/time.Second) {
		return Errorf(CodeInvalidTimestamp, "signature timestamp is in the future")
	}
	if ts < sec-int64(maxAge/time.Second) {
		return Errorf(CodeInvalidNonce, "signature timestamp is too old")
	}
	return nil
}

// checkNonce refuses a missing nonce, and one holding the "|" that joins
// a signed payload's fields: the messages have two to four fields, so
// such a nonce would let a signature made over one message verify as
// another's (a payreq's as a post-transaction callback whose nonce is the
// payreq's first two fields). No SDK makes one.
func checkNonce(nonce string) error {
	if nonce == "" {
		return Errorf(CodeInvalidNonce, "missing nonce")
	}
	if strings.Contains(nonce, "|") {
		return Errorf(CodeInvalidNonce, "nonce contains \"|\", which separates the signed fields")
	}
	return nil
}

// verify runs the common sequence for one message.
func (v *Verifier) verify(ctx context.Context, domain, nonce string, ts int64, payload, sig string, backing []BackingSignature) (*PublicKeys, error) {
	if v.Keys == nil || v.Nonces == nil {
		return nil, Errorf(CodeInternalError, "verifier needs Keys and Nonces")
	}
	if err := checkNonce(nonce); err != nil {
		return nil, err
	}
	if err := v.checkTimestamp(ts); err != nil {
		return nil, err
	}
	kctx, cancel := v.keyContext(ctx)
	defer cancel()
	keys, err := v.Keys.PublicKeys(kctx, domain)
	if err != nil {
		return nil, err
	}
	if err := verifyHex(keys.Signing, payload, sig); err != nil {
		if keys, err = v.refreshed(kctx, domain, keys, err, func(k *PublicKeys) error { return verifyHex(k.Signing, payload, sig) }); err != nil {
			return nil, err
		}
	}
	if !v.SkipBackingSignatures {
		if err := v.verifyBacking(kctx, payload, backing); err != nil {
			return nil, err
		}
	}
	// Scoped by the domain in its normal form: the same VASP spelt with a
	// trailing dot or :443 (an lnurlp request's vaspDomain is not signed)
	// is the same nonce scope.
	if err := v.Nonces.CheckAndSave(ctx, NormalizeDomain(domain), nonce, time.Unix(ts, 0)); err != nil {
		return nil, err
	}
	return keys, nil
}

// refreshed answers a signature of domain that failed (failed) with its
// keys stale, perhaps cached from before a key rotation: when Keys can
// fetch them anew (KeyRefresher) and the signing key changed, it returns
// the new keys if check passes with them; failed otherwise.
func (v *Verifier) refreshed(ctx context.Context, domain string, stale *PublicKeys, failed error, check func(*PublicKeys) error) (*PublicKeys, error) {
	r, ok := v.Keys.(KeyRefresher)
	if !ok {
		return nil, failed
	}
	fresh, err := r.RefreshPublicKeys(ctx, domain)
	if err != nil || fresh.Signing.Equal(stale.Signing) {
		return nil, failed
	}
	if err := check(fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}

func (v *Verifier) verifyBacking(ctx context.Context, payload string, sigs []BackingSignature) error {
	if len(sigs) > maxBackingSignatures {
		return Errorf(CodeInvalidSignature, "too many backing signatures")
	}
	for _, b := range sigs {
		keys, err := v.Keys.PublicKeys(ctx, b.Domain)
		if err != nil {
			return err
		}
		if err := verifyHex(keys.Signing, payload, b.Signature); err != nil {
			return Errorf(CodeInvalidSignature, "backing signature of %s does not verify", truncate(b.Domain))
		}
	}
	return nil
}

// VerifyLnurlpRequest verifies a parsed UMA LnurlpRequest (receiver side)
// with the keys of its VaspDomain and returns them (their encryption key is
// not needed here, but callers often cache the result).
func (v *Verifier) VerifyLnurlpRequest(ctx context.Context, r *LnurlpRequest) (*PublicKeys, error) {
	if !r.IsUMA() {
		return nil, Errorf(CodeMissingRequiredUMAParameters, "not an UMA lnurlp request")
	}
	return v.verify(ctx, r.VaspDomain, r.Nonce, r.Timestamp, r.SignablePayload(), r.Signature, r.BackingSignatures)
}

// VerifyLnurlpResponse verifies the receiver's signed compliance (sender
// side) with the keys of receiver's domain, and checks that it speaks for
// the address we asked about. It returns the receiver's keys: their
// encryption key is what travel-rule data is encrypted to.
func (v *Verifier) VerifyLnurlpResponse(ctx context.Context, r *LnurlpResponse, receiver Address) (*PublicKeys, error) {
	if r.Compliance == nil {
		return nil, Errorf(CodeMissingRequiredUMAParameters, "lnurlp response has no compliance")
	}
	if !strings.EqualFold(r.Compliance.ReceiverIdentifier, receiver.String()) {
		return nil, Errorf(CodeInvalidSignature, "lnurlp response is for %q, not %q", truncate(r.Compliance.ReceiverIdentifier), receiver.String())
	}
	c := r.Compliance
	return v.verify(ctx, receiver.Domain, c.SignatureNonce, c.SignatureTimestamp, r.SignablePayload(), c.Signature, r.ComplianceBackingSignatures())
}

// VerifyPayRequest verifies the payer's signature (receiver side) with the
// keys of the domain of PayerData.Identifier, and returns them.
func (v *Verifier) VerifyPayRequest(ctx context.Context, r *PayRequest) (*PublicKeys, error) {
	if !r.IsUMA() {
		return nil, Errorf(CodeMissingRequiredUMAParameters, "pay request has no UMA payer data")
	}
	domain, err := r.SenderDomain()
	if err != nil {
		return nil, err
	}
	c := r.PayerData.Compliance
	return v.verify(ctx, domain, c.SignatureNonce, c.SignatureTimestamp, r.SignablePayload(), c.Signature, c.BackingSignatures)
}

// VerifyPayReqResponse verifies the payee's signature (sender side) with the
// keys of receiver's domain. payerIdentifier is the PayerData.Identifier we sent.
// payeeData.identifier, when present, must be receiver (compared
// case-insensitively, as the Python SDK does): it is what Kotlin and Python
// verify the signature over, and a receiver may not speak for another of
// its addresses. Without one (the JS SDK does not add it) the signature is
// over receiver, as Go and JS verify it.
func (v *Verifier) VerifyPayReqResponse(ctx context.Context, r *PayReqResponse, payerIdentifier string, receiver Address) (*PublicKeys, error) {
	if r.V0 {
		return nil, Errorf(CodeInvalidInput, "v0 payreq responses are not signed")
	}
	if r.PayeeData == nil || r.PayeeData.Compliance == nil {
		return nil, Errorf(CodeMissingRequiredUMAParameters, "payreq response has no payeeData.compliance")
	}
	if id := r.PayeeData.Identifier; id != "" && !strings.EqualFold(id, receiver.String()) {
		return nil, Errorf(CodeInvalidSignature, "payreq response is for %q, not %q", truncate(r.PayeeData.Identifier), receiver.String())
	}
	if v.Keys == nil || v.Nonces == nil {
		return nil, Errorf(CodeInternalError, "verifier needs Keys and Nonces")
	}
	c := r.PayeeData.Compliance
	if err := checkNonce(c.SignatureNonce); err != nil {
		return nil, err
	}
	if err := v.checkTimestamp(c.SignatureTimestamp); err != nil {
		return nil, err
	}
	kctx, cancel := v.keyContext(ctx)
	defer cancel()
	keys, err := v.Keys.PublicKeys(kctx, receiver.Domain)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(keys.Signing, payerIdentifier, receiver.String()); err != nil {
		if keys, err = v.refreshed(kctx, receiver.Domain, keys, err, func(k *PublicKeys) error {
			return r.Verify(k.Signing, payerIdentifier, receiver.String())
		}); err != nil {
			return nil, err
		}
	}
	if !v.SkipBackingSignatures {
		payee := r.PayeeData.Identifier
		if payee == "" {
			payee = receiver.String()
		}
		if err := v.verifyBacking(kctx, r.SignablePayload(payerIdentifier, payee), c.BackingSignatures); err != nil {
			return nil, err
		}
	}
	if err := v.Nonces.CheckAndSave(ctx, receiver.Domain, c.SignatureNonce, time.Unix(c.SignatureTimestamp, 0)); err != nil {
		return nil, err
	}
	return keys, nil
}

// VerifyPostTransactionCallback verifies a signed callback with the keys of
// its VaspDomain. expectedDomain, when not empty, is the counterparty we
// did business with; a callback from another domain is refused.
func (v *Verifier) VerifyPostTransactionCallback(ctx context.Context, c *PostTransactionCallback, expectedDomain string) error {
	if c.IsV0() {
		return Errorf(CodeMissingRequiredUMAParameters, "post-transaction callback is unsigned (a v0 callback?)")
	}
	if expectedDomain != "" && !strings.EqualFold(expectedDomain, c.VaspDomain) {
		return Errorf(CodeInvalidSignature, "callback from %q, expected %q", truncate(c.VaspDomain), expectedDomain)
	}
	_, err := v.verify(ctx, c.VaspDomain, c.SignatureNonce, c.SignatureTimestamp, c.SignablePayload(), c.Signature, nil)
	return err
}
