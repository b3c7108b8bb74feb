package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// UMA signs an lnurlp answer's compliance over
// "receiverIdentifier|nonce|timestamp" and a payreq over
// "payerIdentifier|nonce|timestamp": our answer about $bob, which anyone
// may ask for, is a signature by us of a payreq from $bob. Sent back to us
// as one, it verified with our own keys, and a payment "from our user
// $bob", its KYC status and travel-rule data the asker's, was recorded
// and put to the platform. The answer's nonce is recorded as used, so
// that such a payreq is refused as a replay; our own payreqs (another of
// our users paying) are unaffected.
func TestLnurlpAnswerIsNoPayreqFromOurUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		w.keys[ourDomain] = &uma.PublicKeys{Signing: w.ours.Signing.PublicKey(), Encryption: w.ours.Encryption.PublicKey()}
		s := w.service(t, nil)
		resp, err := s.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now()), "bob")
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Compliance
		forged := &uma.PayRequest{Amount: 500, SendingCurrency: "USD", ReceivingCurrency: "USD",
			PayerData: &uma.PayerData{Identifier: c.ReceiverIdentifier, Compliance: &uma.CompliancePayerData{KycStatus: uma.KycVerified,
				NodePubKey: "02ab", SignatureNonce: c.SignatureNonce, SignatureTimestamp: c.SignatureTimestamp, Signature: c.Signature}}}
		_, err = s.PayRequest(t.Context(), "alice", forged)
		wantCode(t, err, uma.CodeInvalidNonce)
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
		// A payreq our sender signs for $bob is taken.
		own := payRequest(t, w.ours.Signing, "$bob@"+ourDomain, w.clock.Now())
		own.SendingCurrency, own.ReceivingCurrency = "USD", "USD"
		if err := own.Sign(w.ours.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PayRequest(t.Context(), "alice", own); err != nil {
			t.Fatalf("our own payreq from $bob: %v", err)
		}
	})
}
