package vasp_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestPaymentRequestPayreqUsesIndexes: a payreq naming an invoice finds
// its payment request by invoiceUUID and counts its payments through
// indexes, on both databases, however many requests and payments there
// are: all are read for every such payreq, its COMPLETED payments counted
// and the payers of its unsettled ones read (its slots) under the
// request's row lock.
func TestPaymentRequestPayreqUsesIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000)
			INSERT INTO payment_requests (id, user_id, receiver_uma, sender_uma, invoice_uuid, invoice, amount, currency,
				max_num_payments, comment_chars_allowed, delivery_status, delivery_code, delivery_message, expires_at, created_at)
			SELECT 'PaymentRequest:p' || n, 'User:u' || (n % 100), '$u@ours', '', 'uuid-' || n, 'uma1', 100, 'EUR', 1, 0,
				'NONE', '', '', n, n FROM g`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4000)
			INSERT INTO uma_transactions (id, direction, status, user_id, platform_user_id, our_address, counterparty, invoice,
				currency, amount, msats, fee, counter_currency, counter_amount, failure_reason, details, approval,
				created_at, updated_at, payment_request_id)
			SELECT 'Transaction:t' || n, 'INCOMING', 'COMPLETED', 'User:u' || (n % 100), 'p', '$u@ours', '', '', 'EUR', 100, 1000, 0,
				'', 0, '', '{}', '', n, n, CASE WHEN n % 2 = 0 THEN 'PaymentRequest:p' || (n / 2) END FROM g`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			name, query string
			args        []any
			indexes     []string
		}{
			{"the request by invoiceUUID", vasp.PaymentRequestByInvoiceQuery, []any{"uuid-7", int64(1)},
				[]string{"payment_requests_invoice", "uma_transactions_payment_request"}},
			{"its slots: COMPLETED payments", vasp.CompletedQuery, []any{"PaymentRequest:p7"}, []string{"uma_transactions_payment_request"}},
			{"its slots: payers of the unsettled", vasp.HoldersQuery, []any{"PaymentRequest:p7"}, []string{"uma_transactions_payment_request"}},
		} {
			var plan string
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				if db.Driver().Name() == "postgres" {
					// Tables this small are read whole whatever the
					// indexes: with sequential scans priced out, the
					// plan shows whether an index serves each read.
					if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
						return err
					}
				}
				plan = storetest.Explain(t, tx, q.query, q.args...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for _, idx := range q.indexes {
				if !strings.Contains(plan, idx) {
					t.Errorf("%s: the plan does not use %s:\n%s", q.name, idx, plan)
				}
			}
			if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "SCAN r\n") || strings.Contains(plan, "SCAN t\n") ||
				strings.Contains(plan, "SCAN payment_requests\n") || strings.Contains(plan, "SCAN uma_transactions\n") {
				t.Errorf("%s: the plan reads a whole table:\n%s", q.name, plan)
			}
		}
	})
}
