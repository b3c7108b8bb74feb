package vasp_test

import (
	"net/url"
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
