package vasp_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestTransactionFiltersUseIndexes: each filter of GET /transactions a
// platform uses to find one user's or one counterparty's payments reaches
// its rows through an index, on both databases, rather than reading every
// payment ever made (platformUserId and the address filters scanned the
// table; the address and reference filters were written so that no index
// could serve them).
func TestTransactionFiltersUseIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		// 4 000 payments of 400 users with 500 counterparties, half each
		// way: each filter below matches about ten.
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4000)
			INSERT INTO uma_transactions (id, direction, status, user_id, platform_user_id, our_address, counterparty,
				quote_id, payment_hash, invoice, currency, amount, msats, fee, counter_currency, counter_amount,
				failure_reason, details, approval, created_at, updated_at)
			SELECT 'Transaction:t' || n, CASE WHEN n % 2 = 0 THEN 'INCOMING' ELSE 'OUTGOING' END, 'COMPLETED',
				'User:u' || (n % 400), 'p' || (n % 400), '$u' || (n % 400) || '@ours.example', '$c' || (n % 500) || '@theirs.example',
				CASE WHEN n % 2 = 1 THEN 'Quote:q' || n END, 'h' || n, 'lnbcrt1', 'EUR', 1000, 1000000, 0, 'USD', 1000,
				'', '{}', '', n, n FROM g`); err != nil {
			t.Fatal(err)
		}
		// Every incoming payment pays one of 400 payment requests.
		if _, err := db.ExecContext(ctx, `UPDATE uma_transactions SET payment_request_id = 'PaymentRequest:r' || (CAST(substr(id, 14) AS INTEGER) % 400)
			WHERE direction = 'INCOMING'`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `ANALYZE uma_transactions`); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			f    vasp.TransactionFilter
			want []string // indexes the plan must use
		}{
			{"platformUserId", vasp.TransactionFilter{PlatformUserID: "p7"}, []string{"uma_transactions_platform_user"}},
			{"umaAddress", vasp.TransactionFilter{Address: "c7@theirs.example"},
				[]string{"uma_transactions_our_address", "uma_transactions_counterparty"}},
			{"senderUmaAddress", vasp.TransactionFilter{Sender: "c7@theirs.example"},
				[]string{"uma_transactions_our_address", "uma_transactions_counterparty"}},
			{"receiverUmaAddress", vasp.TransactionFilter{Receiver: "u7@ours.example"},
				[]string{"uma_transactions_our_address", "uma_transactions_counterparty"}},
			{"reference", vasp.TransactionFilter{Reference: "Quote:q7"}, []string{"uma_transactions_quote"}},
			{"paymentRequestId", vasp.TransactionFilter{PaymentRequestID: "PaymentRequest:r8"}, []string{"uma_transactions_payment_request"}},
			{"platformUserId, newest first after a cursor", vasp.TransactionFilter{PlatformUserID: "p7", Direction: vasp.Incoming},
				[]string{"uma_transactions_platform_user"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				q, args := vasp.ListTransactionsQuery(c.f, "Transaction:t9", 20)
				plan := storetest.Explain(t, db, q, args...)
				for _, idx := range c.want {
					if !strings.Contains(plan, idx) {
						t.Errorf("the plan does not use %s:\n%s", idx, plan)
					}
				}
				if strings.Contains(plan, "Seq Scan on uma_transactions") || strings.Contains(plan, "SCAN uma_transactions") {
					t.Errorf("the plan reads the whole table:\n%s", plan)
				}
			})
		}
	})
}
