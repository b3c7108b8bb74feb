package vasp_test

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestUpgradeExpiredCallbackOwed: a payment EXPIRED when migration 0420
// introduced durable callbacks still owes its post-transaction callback
// (a late settlement completes it), while payments finished otherwise
// before 0420 had theirs attempted and owe none.
func TestUpgradeExpiredCallbackOwed(t *testing.T) {
	statuses := []string{vasp.StatusCompleted, vasp.StatusExpired, vasp.StatusFailed}
	storetest.EachUpgrade(t, 420, func(t *testing.T, old *sql.DB) {
		for i, st := range statuses {
			insertOldTransaction(t, old, "OUTGOING", st, i)
		}
	}, func(t *testing.T, db *store.DB) {
		want := map[string]string{vasp.StatusCompleted: "none", vasp.StatusExpired: "pending", vasp.StatusFailed: "none"}
		for _, st := range statuses {
			var got string
			if err := db.QueryRowContext(t.Context(), `SELECT callback_state FROM uma_transactions WHERE id = $1`, "Transaction:"+st).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want[st] {
				t.Errorf("a payment %s before durable callbacks has callback_state %s, want %s", st, got, want[st])
			}
		}
	})
}

// insertOldTransaction writes a finished payment, Transaction:<status>,
// into a database migrated to an older version (storetest.EachUpgrade),
// with columns the table has had since before durable callbacks (0420); n
// makes its payment hash unique.
func insertOldTransaction(t *testing.T, old *sql.DB, direction, status string, n int) {
	t.Helper()
	if _, err := old.Exec(fmt.Sprintf(`INSERT INTO uma_transactions (id, direction, status, user_id, platform_user_id,
		our_address, counterparty, payment_hash, invoice, currency, amount, msats, fee, counter_currency, counter_amount,
		failure_reason, details, approval, created_at, updated_at, settled_at)
		VALUES ('Transaction:%s', '%s', '%s', 'User:1', 'p', '$bob@x', '$alice@y', '%064d', 'lnbcrt1', 'EUR', 1, 1000, 0, 'EUR', 1,
		'', '{}', '', 1, 1, 1)`, status, direction, status, n)); err != nil {
		t.Fatal(err)
	}
}
