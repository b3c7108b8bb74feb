package api_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/webhook"
)

// TestNewTransactionListTakesEveryStatus: GET /transactions?status= takes
// every value of the specification's TransactionStatus enum, REFUNDED
// included, which no vaspd payment reaches (a failed payment is refunded
// in place and stays FAILED): such a filter is applied, listing nothing,
// rather than refused as a value the document allows.
func TestNewTransactionListTakesEveryStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		pr := f.payReq(t, 100, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, time.Now())
		if status, raw, _ := f.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, pr)); status != 200 {
			t.Fatalf("payreq: %d %s", status, raw)
		}
		for _, st := range []webhook.TransactionStatus{webhook.StatusCreated, webhook.StatusPending, webhook.StatusProcessing,
			webhook.StatusCompleted, webhook.StatusRejected, webhook.StatusFailed, webhook.StatusRefunded, webhook.StatusExpired} {
			status, raw, m := f.call(t, "GET", "/transactions?status="+string(st), &f.viewer, "")
			if status != 200 {
				t.Fatalf("status=%s: %d %s", st, status, raw)
			}
			data := m["data"].([]any)
			for _, d := range data {
				if got := d.(map[string]any)["status"]; got != string(st) {
					t.Fatalf("status=%s listed a transaction %v", st, got)
				}
			}
			if want := map[webhook.TransactionStatus]int{webhook.StatusPending: 1}[st]; len(data) != want {
				t.Fatalf("status=%s listed %d transactions, want %d: %s", st, len(data), want, raw)
			}
		}
	})
}
