package vasp_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// More hostile senders, as a receiver sees them (see hostile_test.go).

// clientError fails t unless err is an *uma.Error the counterparty caused
// (HTTP 4xx), never a 5xx of ours or a success.
func clientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted, want a client error")
	}
	if st := uma.AsError(err).HTTPStatus(); st < 400 || st >= 500 {
		t.Fatalf("got %v (HTTP %d), want a 4xx", err, st)
	}
}

// Payer data that is not UTF-8 is stored as received (the LUD-18
// description hash is over its bytes): it must be refused as a parse
// error, not fail the database write (PostgreSQL refuses such text).
func TestPayRequestInvalidUTF8PayerData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		t.Run("POST body", func(t *testing.T) {
			pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
			pr.PayerData.Name = "Al"
			body, err := json.Marshal(pr)
			if err != nil {
				t.Fatal(err)
			}
			body = bytes.Replace(body, []byte(`"Al"`), []byte("\"Al\xff\xfe\""), 1)
			parsed, err := uma.ParsePayRequest(body)
			if err == nil {
				_, err = s.PayRequest(t.Context(), "bob", parsed)
			}
			clientError(t, err)
		})
		t.Run("GET query", func(t *testing.T) {
			q := url.Values{"amount": {"100000"}, "payerdata": {"{\"identifier\":\"x\xff@wallet.example\"}"}}
			parsed, err := uma.ParsePayRequestQuery(q)
			if err == nil {
				_, err = s.PayRequest(t.Context(), "bob", parsed)
			}
			clientError(t, err)
		})
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
	})
}

// A plain LNURL payer's identifier is kept, cut to a bounded length: the
// cut must not split a character (PostgreSQL refuses invalid UTF-8).
func TestPayRequestLongUnicodeIdentifier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		id := "x" + strings.Repeat("é", 400) + "@wallet.example"
		pr := &uma.PayRequest{Amount: 100_000, PayerData: &uma.PayerData{Identifier: id}}
		if _, err := s.PayRequest(t.Context(), "bob", pr); err != nil {
			t.Fatalf("plain LNURL payreq: %v", err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 || !strings.HasPrefix(id, strings.TrimSuffix(ts[0].Counterparty, "…")) {
			t.Fatalf("transactions %+v, %v", ts, err)
		}
	})
}
