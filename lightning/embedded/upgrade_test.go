package embedded_test

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestUpgradeSentAttempt: a payment attempted before migration 0624 may
// have sent its request, which nothing recorded, so it counts as sent by
// its first attempt (sent_attempt 1) and keeps the old rule: it fails only
// on the payee's refusal. One never attempted sent nothing (0).
func TestUpgradeSentAttempt(t *testing.T) {
	attempts := []int{0, 1, 3}
	storetest.EachUpgrade(t, 624, func(t *testing.T, old *sql.DB) {
		for _, a := range attempts {
			if _, err := old.Exec(fmt.Sprintf(`INSERT INTO ln_embedded_payments
				(node_pubkey, payment_hash, payment_request, destination, amount_msat, fee_msat, status,
				 preimage, failure_reason, attempts, created_at, resolved_at)
				VALUES ('node', 'hash%d', 'lnbcrt1', 'payee', 1000, 1, 'IN_FLIGHT', '', '', %d, 1, 0)`, a, a)); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		want := map[int]int64{0: 0, 1: 1, 3: 1}
		for _, a := range attempts {
			var got int64
			if err := db.QueryRowContext(t.Context(), `SELECT sent_attempt FROM ln_embedded_payments
				WHERE node_pubkey = 'node' AND payment_hash = $1`, fmt.Sprintf("hash%d", a)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want[a] {
				t.Errorf("payment with %d attempts before 0624: sent_attempt %d, want %d", a, got, want[a])
			}
		}
	})
}
