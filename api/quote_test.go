package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
