package uma

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

// The @uma-sdk/core pubkey response carries the signing chain as
// encryptionCertChain next to the right encryptionPubKey; we encrypt to
// the hex key there, and follow the certificate everywhere else.
func TestPubKeyResponseJSChainBug(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sigKey, _ := GeneratePrivateKey()
	encKey, _ := GeneratePrivateKey()
	cert := func(k *PrivateKey) string {
		der, err := NewSelfSignedCertificate(k, "vasp.js", now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(der)
	}
	sigCert, encCert := cert(sigKey), cert(encKey)
	sigHex, encHex := sigKey.PublicKey().Hex(), encKey.PublicKey().Hex()
	for _, tc := range []struct {
		name string
		r    PubKeyResponse
		want *PrivateKey
	}{
		{"js bug: signing chain twice, distinct hex keys", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{sigCert}, SigningPubKey: sigHex, EncryptionPubKey: encHex}, encKey},
		{"js bug without signing hex", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{sigCert}, EncryptionPubKey: encHex}, encKey},
		{"correct chains", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{encCert}, SigningPubKey: sigHex, EncryptionPubKey: encHex}, encKey},
		{"one key for both", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{sigCert}, SigningPubKey: sigHex, EncryptionPubKey: sigHex}, sigKey},
		{"stale hex: the certificate wins", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{encCert}, SigningPubKey: sigHex, EncryptionPubKey: sigHex}, encKey},
		{"signing hex disagrees with its cert: not the js fingerprint", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{sigCert}, SigningPubKey: encHex, EncryptionPubKey: encHex}, sigKey},
		{"unparsable encryption hex", PubKeyResponse{SigningCertChain: []string{sigCert}, EncryptionCertChain: []string{sigCert}, EncryptionPubKey: "04zz"}, sigKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(tc.r)
			r, err := ParsePubKeyResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			k, err := r.PublicKeys()
			if err != nil {
				t.Fatal(err)
			}
			if !k.Signing.Equal(sigKey.PublicKey()) {
				t.Error("signing key changed")
			}
			if !k.Encryption.Equal(tc.want.PublicKey()) {
				t.Errorf("encryption key %s, want %s", k.Encryption.Hex(), tc.want.PublicKey().Hex())
			}
		})
	}
}
