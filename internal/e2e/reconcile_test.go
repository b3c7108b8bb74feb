package e2e

import (
	"testing"

	"github.com/vaspd/vaspd/internal/daemon"
)

type reconcileResp struct {
	Complete       bool           `json:"complete"`
	Transactions   int            `json:"transactions"`
	Checked        map[string]int `json:"checked"`
	Unchecked      int            `json:"unchecked"`
	MismatchCounts map[string]int `json:"mismatchCounts"`
	Mismatches     []struct {
		TransactionID string `json:"transactionId"`
		Kind          string `json:"kind"`
		Vaspd         struct {
			FeeMsats int64 `json:"feeMsats"`
		} `json:"vaspd"`
		Node struct {
			State    string `json:"state"`
			FeeMsats int64  `json:"feeMsats"`
		} `json:"node"`
	} `json:"mismatches"`
}

// Two VASPs, a payment over the devnet with a routing fee: each side's
// reconciliation with its own node finds the books right (the sender's
// payment SUCCEEDED for the amount and fee it booked, the receiver's
// invoice settled for what it credited). Then the sender's books are made
// to say the payment FAILED, as a bug refunding it would: its
// reconciliation reports that payment REFUNDED_BUT_SENT, the receiver's
// still nothing.
func TestReconcileAcrossVASPs(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPsTuned(t, db, func(c *daemon.Config) { c.Lightning.FeeBaseMsat = 1_500 }, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 10_00)
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute: %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == q.TotalReceivingAmount })

		reconcile := func(p *vaspProc) reconcileResp {
			t.Helper()
			var r reconcileResp
			p.mustCall("GET", "/ledger/reconciliation", nil, &r)
			if !r.Complete || r.Transactions != 1 || r.Unchecked != 0 {
				t.Fatalf("%s: reconciliation %+v, want one payment, complete", p.name, r)
			}
			return r
		}
		if r := reconcile(a); len(r.Mismatches) != 0 || r.Checked["OUTGOING_COMPLETED"] != 1 {
			t.Fatalf("sender: %+v", r)
		}
		if r := reconcile(b); len(r.Mismatches) != 0 || r.Checked["INCOMING_COMPLETED"] != 1 {
			t.Fatalf("receiver: %+v", r)
		}

		if _, err := a.daemon.DB().ExecContext(t.Context(), `UPDATE uma_transactions SET status = 'FAILED' WHERE id = $1`, tx.ID); err != nil {
			t.Fatal(err)
		}
		r := reconcile(a)
		if len(r.Mismatches) != 1 || r.Mismatches[0].TransactionID != tx.ID || r.Mismatches[0].Kind != "REFUNDED_BUT_SENT" ||
			r.Mismatches[0].Node.State != "SUCCEEDED" || r.Mismatches[0].Node.FeeMsats != 1_500 || r.Mismatches[0].Vaspd.FeeMsats != 1_500 {
			t.Fatalf("sender after the tampering: %+v", r)
		}
		if r := reconcile(b); len(r.Mismatches) != 0 {
			t.Fatalf("receiver after the sender's tampering: %+v", r)
		}
	})
}
