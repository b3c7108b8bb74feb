package uma

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// PubKeyResponse is the body of GET /.well-known/lnurlpubkey (UMAD-02): hex
// DER certificate chains (leaf first, v1) and hex public keys (v0 and v1).
type PubKeyResponse struct {
	SigningCertChain    []string `json:"signingCertChain,omitempty"`
	EncryptionCertChain []string `json:"encryptionCertChain,omitempty"`
	SigningPubKey       string   `json:"signingPubKey,omitempty"`
	EncryptionPubKey    string   `json:"encryptionPubKey,omitempty"`
	// Unix seconds until which the keys may be cached; nil = no statement.
	ExpirationTimestamp *int64 `json:"expirationTimestamp,omitempty"`
}

// PubKeyResponse builds our /.well-known/lnurlpubkey body. A zero expiresAt
// omits expirationTimestamp.
func (k *Keys) PubKeyResponse(expiresAt time.Time) *PubKeyResponse {
	r := &PubKeyResponse{
		SigningCertChain:    hexChain(k.SigningCertChain),
		EncryptionCertChain: hexChain(k.EncryptionCertChain),
		SigningPubKey:       k.Signing.PublicKey().Hex(),
		EncryptionPubKey:    k.Encryption.PublicKey().Hex(),
	}
	if !expiresAt.IsZero() {
		ts := expiresAt.Unix()
		r.ExpirationTimestamp = &ts
	}
	return r
}

// ParsePubKeyResponse parses a counterparty's /.well-known/lnurlpubkey body.
// It only checks the JSON; PublicKeys extracts and checks the keys.
func ParsePubKeyResponse(body []byte) (*PubKeyResponse, error) {
	var w struct {
		SigningCertChain    []string   `json:"signingCertChain"`
		EncryptionCertChain []string   `json:"encryptionCertChain"`
		SigningPubKey       optString  `json:"signingPubKey"`
		EncryptionPubKey    optString  `json:"encryptionPubKey"`
		ExpirationTimestamp *flexInt64 `json:"expirationTimestamp"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, wrapErr(CodeInvalidPubkeyFormat, err, "invalid pubkey response JSON")
	}
	if err := repeatedKey(body, CodeInvalidPubkeyFormat, "pubkey response"); err != nil {
		return nil, err
	}
	r := &PubKeyResponse{
		SigningCertChain:    w.SigningCertChain,
		EncryptionCertChain: w.EncryptionCertChain,
		SigningPubKey:       string(w.SigningPubKey),
		EncryptionPubKey:    string(w.EncryptionPubKey),
	}
	if w.ExpirationTimestamp != nil {
		ts := int64(*w.ExpirationTimestamp)
		r.ExpirationTimestamp = &ts
	}
	return r, nil
}

// PublicKeys are a counterparty's verified-format keys.
type PublicKeys struct {
	Signing    *PublicKey
	Encryption *PublicKey
	// ExpiresAt is the published expirationTimestamp; zero if none.
	ExpiresAt time.Time
}

// PublicKeys extracts the keys the way every SDK does: from the leaf
// certificate's SubjectPublicKeyInfo when a chain is present, else from the
// hex key. A present but unusable chain is an error (CERT_CHAIN_INVALID),
// not a reason to silently trust the bare key; a missing key is
// INVALID_PUBKEY_FORMAT. One exception: the uma-js-sdk bug that publishes
// the signing chain as encryptionCertChain (see jsChainBugEncryptionKey).
func (r *PubKeyResponse) PublicKeys() (*PublicKeys, error) {
	sig, err := pickKey("signing", r.SigningCertChain, r.SigningPubKey)
	if err != nil {
		return nil, err
	}
	enc, err := pickKey("encryption", r.EncryptionCertChain, r.EncryptionPubKey)
	if err != nil {
		return nil, err
	}
	if k := r.jsChainBugEncryptionKey(sig, enc); k != nil {
		enc = k
	}
	pk := &PublicKeys{Signing: sig, Encryption: enc}
	if r.ExpirationTimestamp != nil && *r.ExpirationTimestamp > 0 {
		pk.ExpiresAt = time.Unix(*r.ExpirationTimestamp, 0)
	}
	return pk, nil
}

func pickKey(name string, chain []string, hexKey string) (*PublicKey, error) {
	if len(chain) > 0 && chain[0] != "" {
		der, err := hex.DecodeString(chain[0])
		if err != nil {
			return nil, Errorf(CodeCertChainInvalid, "%s certificate is not hex", name)
		}
		return ParseCertificatePublicKey(der)
	}
	if hexKey == "" {
		return nil, Errorf(CodeInvalidPubkeyFormat, "no %s key in pubkey response", name)
	}
	return ParsePublicKeyHex(hexKey)
}

// jsChainBugEncryptionKey recognises the response of @uma-sdk/core, whose
// PubKeyResponse.toJsonString writes the signing chain into
// encryptionCertChain (uma-protocol.md §1.4, §6.7 #12), and returns the
// encryption key that VASP really holds: its encryptionPubKey. The
// fingerprint is exact: both chains start with the same certificate, the
// signing hex key (when present) is that certificate's key, and the
// encryption hex key is a different valid key. Every SDK would encrypt
// travel-rule data to the signing key there, which the receiver cannot
// decrypt. A VASP using one key for both has equal hex keys and is not
// affected. It returns nil when the fingerprint does not match.
func (r *PubKeyResponse) jsChainBugEncryptionKey(sig, enc *PublicKey) *PublicKey {
	if len(r.SigningCertChain) == 0 || len(r.EncryptionCertChain) == 0 || r.EncryptionPubKey == "" ||
		!strings.EqualFold(r.SigningCertChain[0], r.EncryptionCertChain[0]) {
		return nil
	}
	if r.SigningPubKey != "" {
		if hk, err := ParsePublicKeyHex(r.SigningPubKey); err != nil || !hk.Equal(sig) {
			return nil
		}
	}
	hk, err := ParsePublicKeyHex(r.EncryptionPubKey)
	if err != nil || hk.Equal(enc) {
		return nil
	}
	return hk
}
