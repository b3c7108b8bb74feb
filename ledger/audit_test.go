package ledger_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Audit counts what it read and reports each kind of inconsistency: a
// movement that does not balance, one without postings, a balance row
// that is not its postings' sum, postings without a balance row.
func TestAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice, bob := vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser)
		for _, m := range []ledger.Movement{
			ledger.Deposit("d/alice", alice, "USD", 500, ""),
			ledger.Deposit("d/bob", bob, "EUR", 300, ""),
			ledger.Withdrawal("w/alice", alice, "USD", 200, ""),
		} {
			if _, err := l.Post(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		a, err := l.Audit(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		// Four balance rows: each user's, and each user's hold row, made
		// at zero by the credit that checked what they hold (lockHold).
		if a != (ledger.Audit{Movements: 3, Postings: 6, Accounts: 4, BalanceRows: 4}) {
			t.Fatalf("audit read %+v", a)
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		wantErr := func(want string) {
			t.Helper()
			if _, err := l.Audit(ctx, db); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("audit: %v, want an error saying %q", err, want)
			}
		}
		exec(`INSERT INTO ledger_movements (id, kind, reference, created_at) VALUES ('m/empty', 'deposit', '', 0)`)
		wantErr("movement m/empty has no postings")
		exec(`INSERT INTO ledger_postings (movement_id, seq, account, currency, amount, created_at) VALUES ('m/empty', 0, 'system:fiat', 'GBP', 7, 0)`)
		wantErr("movement m/empty does not balance in GBP (7)")
		exec(`INSERT INTO ledger_postings (movement_id, seq, account, currency, amount, created_at) VALUES ('m/empty', 1, $1, 'GBP', -7, 0)`,
			string(ledger.SystemAccount("fx")))
		if err := l.Check(ctx, db); err != nil {
			t.Fatalf("balanced again: %v", err)
		}
		exec(`UPDATE ledger_balances SET balance = 301 WHERE account = $1`, string(ledger.UserAccount(bob)))
		wantErr("balance of " + string(ledger.UserAccount(bob)) + " in EUR is 301, postings sum to 300")
		exec(`UPDATE ledger_balances SET balance = 300 WHERE account = $1`, string(ledger.UserAccount(bob)))
		exec(`DELETE FROM ledger_balances WHERE account = $1`, string(ledger.UserAccount(alice)))
		wantErr(string(ledger.UserAccount(alice)) + " has postings in USD (sum 300) but no balance row")
	})
}
