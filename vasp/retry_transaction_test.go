package vasp_test

import (
	"encoding/json"
	"testing"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/webhook"
)

// The transaction of a retry (POST /quotes/{id}/retry) names the
// transaction it retries, as UMAaaS's OutgoingTransaction does
// (originalTransactionId): the first attempt's, as the retry's quote
// names the first quote (originalQuoteId), also for a retry of a retry.
// In GET /transactions/{id} and in the OUTGOING_PAYMENT webhook alike.
func TestRetryTransactionNamesTheOriginal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		h.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		first, err := h.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || first.Status != vasp.StatusFailed {
			t.Fatalf("first attempt: %s %v, want %s", first.Status, err, vasp.StatusFailed)
		}
		if got := h.s.Render(t.Context(), first).(webhook.OutgoingTransaction).OriginalTransactionID; got != "" {
			t.Errorf("the first attempt names %q as its original, want none", got)
		}
		// A retry that fails too, then a retry of that retry that is paid.
		r1, err := h.s.RetryQuote(t.Context(), q.ID, h.lookup(t).ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		second, err := h.s.ExecuteQuote(t.Context(), r1.ID, "")
		if err != nil || second.Status != vasp.StatusFailed {
			t.Fatalf("second attempt: %s %v, want %s", second.Status, err, vasp.StatusFailed)
		}
		h.w.node.SetFaults(embedded.Faults{})
		r2, err := h.s.RetryQuote(t.Context(), r1.ID, h.lookup(t).ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		third, err := h.s.ExecuteQuote(t.Context(), r2.ID, "")
		if err != nil || third.Status != vasp.StatusCompleted {
			t.Fatalf("third attempt: %s %v, want %s", third.Status, err, vasp.StatusCompleted)
		}
		for _, tr := range []vasp.Transaction{second, third} {
			got, err := h.s.GetTransaction(t.Context(), tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if id := h.s.Render(t.Context(), got).(webhook.OutgoingTransaction).OriginalTransactionID; id != first.ID {
				t.Errorf("GET transaction %s: originalTransactionId %q, want the first attempt's %s", tr.ID, id, first.ID)
			}
		}
		rows, err := db.QueryContext(t.Context(), `SELECT payload FROM webhook_events WHERE type = 'OUTGOING_PAYMENT'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := map[string]string{}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			var m struct {
				Transaction struct {
					ID                    string `json:"id"`
					OriginalTransactionID string `json:"originalTransactionId"`
				} `json:"transaction"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			seen[m.Transaction.ID] = m.Transaction.OriginalTransactionID
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{first.ID: "", second.ID: first.ID, third.ID: first.ID}
		for id, orig := range want {
			if got, ok := seen[id]; !ok || got != orig {
				t.Errorf("OUTGOING_PAYMENT of %s: originalTransactionId %q (sent: %v), want %q", id, got, ok, orig)
			}
		}
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}
