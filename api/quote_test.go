package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestQuoteRequiredFields: a Quote carries what the UMAaaS schema requires
// and vaspd can state truthfully: exchangeRate (sending per receiving
// smallest unit, our fee excluded) and transactionId ("" until executed).
func TestQuoteRequiredFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 1000)
		check := func(m map[string]any, wantTx string) {
			t.Helper()
			for _, k := range []string{"quoteId", "sendingCurrency", "receivingCurrency", "totalSendingAmount",
				"totalReceivingAmount", "exchangeRate", "expiresAt", "feesIncluded", "transactionId"} {
				if _, ok := m[k]; !ok {
					t.Errorf("quote lacks %s: %v", k, m)
				}
			}
			send, fee, recv := m["totalSendingAmount"].(float64), m["feesIncluded"].(float64), m["totalReceivingAmount"].(float64)
			if rate, _ := m["exchangeRate"].(float64); rate <= 0 || rate != (send-fee)/recv {
				t.Errorf("exchangeRate %v, want (%v-%v)/%v", m["exchangeRate"], send, fee, recv)
			}
			if m["transactionId"] != wantTx {
				t.Errorf("transactionId %v, want %q", m["transactionId"], wantTx)
			}
		}
		status, raw, m := f.call(t, "GET", "/quotes/"+q, &f.viewer, "")
		if status != 200 {
			t.Fatalf("get quote: %d %s", status, raw)
		}
		check(m, "")
		status, raw, m = f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 {
			t.Fatalf("execute: %d %s", status, raw)
		}
		tx := m["id"].(string)
		if _, _, m = f.call(t, "GET", "/quotes/"+q, &f.viewer, ""); m != nil {
			check(m, tx)
		}
	})
}

// TestLookupUserIDAndSenderAddress: a lookup naming its sender twice,
// by userId and senderUmaAddress, is fine when both name one user and a
// 400 naming both otherwise (senderUmaAddress was silently ignored).
func TestLookupUserIDAndSenderAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		bob := "/receiver/" + url.PathEscape("$bob@"+f.domain)
		status, raw, _ := f.call(t, "GET", bob+"?userId="+f.alice.UserID+"&senderUmaAddress="+url.QueryEscape("$alice@"+f.domain), &f.admin, "")
		if status != http.StatusOK {
			t.Fatalf("same user twice: %d %s", status, raw)
		}
		for _, sender := range []string{"$bob@" + f.domain, "$nobody@" + f.domain} {
			status, raw, _ = f.call(t, "GET", bob+"?userId="+f.alice.UserID+"&senderUmaAddress="+url.QueryEscape(sender), &f.admin, "")
			wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
			if !strings.Contains(string(raw), "userId") || !strings.Contains(string(raw), "senderUmaAddress") {
				t.Errorf("%s: error does not name both parameters: %s", sender, raw)
			}
		}
	})
}

// TestQuoteCurrencies: a Quote's sendingCurrency and receivingCurrency are
// whole Currency objects, with their real decimals (they read 0), also for
// a quote recorded before the currencies were kept with it.
func TestQuoteCurrencies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		want := map[string]map[string]any{
			"sendingCurrency":   {"code": "USD", "name": "US Dollar", "symbol": "$", "decimals": 2.0},
			"receivingCurrency": {"code": "EUR", "name": "Euro", "symbol": "€", "decimals": 2.0},
		}
		check := func(what string, m map[string]any) {
			t.Helper()
			for field, w := range want {
				got, _ := m[field].(map[string]any)
				for k, v := range w {
					if got[k] != v {
						t.Errorf("%s: %s.%s = %v, want %v", what, field, k, got[k], v)
					}
				}
			}
		}
		body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":1000}`, f.lookupBob(t))
		status, raw, m := f.call(t, "POST", "/quotes", &f.admin, body)
		if status != 201 {
			t.Fatalf("quote: %d %s", status, raw)
		}
		check("created", m)
		q := m["quoteId"].(string)
		_, _, m = f.call(t, "GET", "/quotes/"+q, &f.viewer, "")
		check("got", m)

		// An older quote's details lack the currencies.
		ctx := context.Background()
		var details string
		if err := db.QueryRowContext(ctx, `SELECT details FROM uma_quotes WHERE id = $1`, q).Scan(&details); err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(details), &d); err != nil {
			t.Fatal(err)
		}
		delete(d, "sending")
		delete(d, "receiving")
		old, _ := json.Marshal(d)
		if _, err := db.ExecContext(ctx, `UPDATE uma_quotes SET details = $1 WHERE id = $2`, string(old), q); err != nil {
			t.Fatal(err)
		}
		_, _, m = f.call(t, "GET", "/quotes/"+q, &f.viewer, "")
		check("old", m)
	})
}

// TestTransactionPaymentInstructions: an OutgoingTransaction carries the
// paymentInstructions its schema requires in a valid shape (it had
// accountType ""): FBO, whose paymentUrl is UMAaaS's FBO confirmation of
// the quote (POST /fbo/confirm/{quoteId}, vaspd's execute under that
// name). An IncomingTransaction has none.
func TestTransactionPaymentInstructions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 100)
		status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 {
			t.Fatalf("execute: %d %s", status, raw)
		}
		check := func(what string, m map[string]any) {
			t.Helper()
			pi, _ := m["paymentInstructions"].(map[string]any)
			acct, _ := pi["bankAccountInfo"].(map[string]any)
			if pi["reference"] != q || acct["accountType"] != "FBO" || acct["paymentMethod"] != "POST" {
				t.Fatalf("%s: paymentInstructions %v", what, m["paymentInstructions"])
			}
			u, err := url.Parse(fmt.Sprint(acct["paymentUrl"]))
			if err != nil || !u.IsAbs() || u.Host != f.domain || u.Path != "/fbo/confirm/"+q {
				t.Errorf("%s: paymentUrl %v", what, acct["paymentUrl"])
			}
		}
		check("execute", m)
		_, _, m = f.call(t, "GET", "/transactions/"+m["id"].(string), &f.viewer, "")
		check("get", m)

		pr := f.payReq(t, 100, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, time.Now())
		if status, raw, _ := f.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, pr)); status != 200 {
			t.Fatalf("payreq: %d %s", status, raw)
		}
		_, _, m = f.call(t, "GET", "/transactions?type=INCOMING", &f.viewer, "")
		data, _ := m["data"].([]any)
		if len(data) == 0 {
			t.Fatalf("no incoming transaction: %v", m)
		}
		for _, d := range data {
			if _, ok := d.(map[string]any)["paymentInstructions"]; ok {
				t.Errorf("incoming transaction with paymentInstructions: %v", d)
			}
		}
	})
}
