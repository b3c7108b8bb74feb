package vasp_test

import (
	"encoding/hex"
	"net/url"
	"strconv"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// NUL is valid UTF-8, and JSON carries it as \u0000, but PostgreSQL
// refuses it in text: what a sender sends with one must be answered as
// its mistake (a 4xx) or kept without it, never fail our database write
// (a 500, logged as our error, the same on each retry).

// A plain LNURL payer's identifier (LUD-18 payerdata) is free text, kept
// as the counterparty: a NUL in it is replaced, as in any stored text.
func TestPayRequestIdentifierWithNUL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		pr, err := uma.ParsePayRequestQuery(url.Values{"amount": {"100000"}, "payerdata": {`{"identifier":"x\u0000y@wallet.example"}`}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PayRequest(t.Context(), "bob", pr); err != nil {
			t.Fatalf("plain LNURL payreq: %v", err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 || ts[0].Counterparty != "x\uFFFDy@wallet.example" {
			t.Fatalf("transactions %+v, %v", ts, err)
		}
	})
}

// A nonce is the signer's choice of text, checked against those stored:
// one with a NUL, signed by a sender with its own key, is INVALID_NONCE
// (400), on the lnurlp and on the payreq, not a failed database query.
func TestNonceWithNUL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		const nonce = "n\x00x"
		t.Run("lnurlp", func(t *testing.T) {
			ts := strconv.FormatInt(w.clock.Now().Unix(), 10)
			payload := "$bob@" + ourDomain + "|" + nonce + "|" + ts
			q := url.Values{"signature": {hex.EncodeToString(uma.SignPayload(sender.Signing, []byte(payload)))},
				"vaspDomain": {"vasp1.example"}, "nonce": {nonce}, "timestamp": {ts}, "umaVersion": {"1.0"}, "isSubjectToTravelRule": {"true"}}
			_, err := s.Lnurlp(t.Context(), &url.URL{Path: "/.well-known/lnurlp/$bob", RawQuery: q.Encode()}, "bob")
			wantCode(t, err, uma.CodeInvalidNonce)
		})
		t.Run("payreq", func(t *testing.T) {
			pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
			c := pr.PayerData.Compliance
			c.SignatureNonce = nonce
			c.Signature = hex.EncodeToString(uma.SignPayload(sender.Signing, []byte(pr.SignablePayload())))
			_, err := s.PayRequest(t.Context(), "bob", pr)
			wantCode(t, err, uma.CodeInvalidNonce)
		})
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
	})
}
