package api_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// GET /ledger/reconciliation: MANAGE only; after a real payment (alice
// pays bob on the same node) it finds nothing wrong; once vaspd's table
// says the payment FAILED (refunded) while the node sent it, it reports
// that payment as REFUNDED_BUT_SENT, with both sides; a window it cannot
// take is a 400 in the platform API's error shape.
func TestReconciliationRoute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixtureMount(t, db, nil, nil, nil, func(s *api.Server, f *payFixture) { s.MountReconciliation(f.svc) })
		status, raw, m := f.call(t, "POST", "/quotes/"+f.quote(t, 1000)+"/execute", &f.admin, "")
		if status != 200 || m["status"] != "COMPLETED" {
			t.Fatalf("execute: %d %s", status, raw)
		}
		txID := m["id"].(string)

		status, raw, _ = f.call(t, "GET", "/ledger/reconciliation", &f.viewer, "")
		wantAPIError(t, status, raw, 403, vaspd.CodeForbidden)

		type report struct {
			Complete       bool           `json:"complete"`
			Transactions   int            `json:"transactions"`
			Checked        map[string]int `json:"checked"`
			MismatchCounts map[string]int `json:"mismatchCounts"`
			Mismatches     []struct {
				TransactionID string `json:"transactionId"`
				PaymentHash   string `json:"paymentHash"`
				Direction     string `json:"direction"`
				Kind          string `json:"kind"`
				Vaspd         struct {
					Status string `json:"status"`
					Msats  int64  `json:"msats"`
				} `json:"vaspd"`
				Node struct {
					State string `json:"state"`
					Msats int64  `json:"msats"`
				} `json:"node"`
			} `json:"mismatches"`
		}
		get := func() report {
			t.Helper()
			status, raw, _ := f.call(t, "GET", "/ledger/reconciliation?since="+url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), &f.admin, "")
			if status != 200 {
				t.Fatalf("reconciliation: %d %s", status, raw)
			}
			var r report
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			if !r.Complete || r.Transactions != 2 {
				t.Fatalf("reconciliation not complete, or not of both sides of the payment: %s", raw)
			}
			return r
		}
		if r := get(); len(r.Mismatches) != 0 || r.Checked["OUTGOING_COMPLETED"] != 1 {
			t.Fatalf("after a clean payment: %+v", r)
		}

		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET status = 'FAILED' WHERE id = $1`, txID); err != nil {
			t.Fatal(err)
		}
		r := get()
		if len(r.Mismatches) != 1 || r.MismatchCounts["REFUNDED_BUT_SENT"] != 1 {
			t.Fatalf("after the tampering: %+v", r)
		}
		mm := r.Mismatches[0]
		if mm.TransactionID != txID || mm.Kind != "REFUNDED_BUT_SENT" || mm.Direction != "OUTGOING" || mm.Vaspd.Status != "FAILED" ||
			mm.Node.State != "SUCCEEDED" || mm.Node.Msats != mm.Vaspd.Msats || len(mm.PaymentHash) != 64 {
			t.Fatalf("mismatch %+v", mm)
		}

		for _, q := range []string{"since=yesterday", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
			"since=2026-01-01T00:00:00Z&until=2026-03-01T00:00:00Z", "until=x"} {
			status, raw, _ := f.call(t, "GET", "/ledger/reconciliation?"+q, &f.admin, "")
			wantAPIError(t, status, raw, 400, vaspd.CodeInvalidInput)
		}
	})
}
