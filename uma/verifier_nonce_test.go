package uma

import (
	"context"
	"testing"
	"time"
)

// A signed payload is its fields joined by "|", and the messages have two
// (post-transaction callback: nonce|timestamp), three (lnurlp request and
// answer, payreq: address|nonce|timestamp) or four fields (payreq answer):
// a nonce holding a "|" lets a signature made over one message verify as
// another's. Here the signature of a payreq by vasp1.com, which its
// receiver (and whoever it shows it to) holds, would make a callback
// "from vasp1.com" with any UTXOs and status, its nonce the payreq's first
// two fields; and vasp2.com's answer to that payreq an lnurlp request
// "from vasp2.com" about the payer. No SDK makes a nonce with a "|".
func TestNonceWithFieldSeparatorRefused(t *testing.T) {
	k1, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{
		Keys: StaticKeys{"vasp1.com": {Signing: k1.PublicKey(), Encryption: k1.PublicKey()},
			"vasp2.com": {Signing: k2.PublicKey(), Encryption: k2.PublicKey()}},
		Nonces: NewMemoryNonceCache(now.Add(-time.Hour)),
		Now:    func() time.Time { return now },
	}
	pr := &PayRequest{Amount: 1000, PayerData: &PayerData{Identifier: "$alice@vasp1.com", Compliance: &CompliancePayerData{}}}
	if err := pr.Sign(k1, now); err != nil {
		t.Fatal(err)
	}
	c := pr.PayerData.Compliance
	t.Run("callback from a payreq's signature", func(t *testing.T) {
		cb := &PostTransactionCallback{VaspDomain: "vasp1.com", Utxos: []UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1}},
			SignatureNonce: "$alice@vasp1.com|" + c.SignatureNonce, SignatureTimestamp: c.SignatureTimestamp, Signature: c.Signature}
		wantCode(t, v.VerifyPostTransactionCallback(context.Background(), cb, "vasp1.com"), CodeInvalidNonce)
	})
	t.Run("lnurlp request from a payreq answer's signature", func(t *testing.T) {
		payload := signablePayload("$alice@vasp1.com", "$bob@vasp2.com", "n1", formatTimestamp(now.Unix()))
		req := &LnurlpRequest{ReceiverAddress: "$alice@vasp1.com", VaspDomain: "vasp2.com", UmaVersion: "1.0",
			Nonce: "$bob@vasp2.com|n1", Timestamp: now.Unix(), Signature: signHex(k2, payload)}
		_, err := v.VerifyLnurlpRequest(context.Background(), req)
		wantCode(t, err, CodeInvalidNonce)
	})
	// The payreq itself, its nonce plain, verifies.
	if _, err := v.VerifyPayRequest(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
}
