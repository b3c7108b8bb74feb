package vasp_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
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

// TestUpgradeUmaRequestQuotes: quotes recorded before migration 0490 gave
// the UMA request they pay a column of its own have it filled from their
// details, so a request paid before the upgrade is not paid again after
// it; quotes paying none, or merely mentioning one in their description,
// name none.
func TestUpgradeUmaRequestQuotes(t *testing.T) {
	r1, r2 := "UmaRequest:019542f5-b3e7-1d02-0000-000000000001", "UmaRequest:019542f5-b3e7-1d02-0000-000000000002"
	quotes := []struct {
		id      string
		details string
		want    string // uma_request_id after the upgrade
	}{
		{"Quote:paid", `{"receiver":"$bob@x","request":{"LookupID":"Lookup:1","UmaRequestID":"` + r1 + `","SenderUserInfo":{"EMAIL":"a@b"}},"msatsPerUnit":"1"}`, r1},
		{"Quote:last", `{"receiver":"$bob@x","request":{"LookupID":"Lookup:1","UmaRequestID":"` + r2 + `"}}`, r2},
		{"Quote:plain", `{"receiver":"$bob@x","request":{"LookupID":"Lookup:1","Description":"lunch"}}`, ""},
		{"Quote:mentions", `{"receiver":"$bob@x","request":{"LookupID":"Lookup:1","Description":"\"UmaRequestID\":\"` + r1 + `\""}}`, ""},
		{"Quote:unknown", `{"receiver":"$bob@x","request":{"LookupID":"Lookup:1","UmaRequestID":"UmaRequest:gone"}}`, ""},
	}
	storetest.EachUpgrade(t, 490, func(t *testing.T, old *sql.DB) {
		for _, r := range []string{r1, r2} {
			if _, err := old.Exec(`INSERT INTO uma_requests (id, user_id, receiver_uma, invoice_uuid, invoice, amount, currency, expires_at, created_at)
				VALUES ('` + r + `', 'User:1', '$bob@x', '` + r + `', 'uma1', 1, 'EUR', 1, 1)`); err != nil {
				t.Fatal(err)
			}
		}
		for i, q := range quotes {
			if _, err := old.Exec(fmt.Sprintf(`INSERT INTO uma_quotes (id, lookup_id, user_id, status, locked_side, sending_currency,
				sending_amount, fee, receiving_currency, receiving_amount, msats, invoice, payment_hash, details, expires_at, created_at, updated_at)
				VALUES ('%s', 'Lookup:1', 'User:1', 'COMPLETED', 'RECEIVING', 'USD', 1, 0, 'EUR', 1, 1000, 'lnbcrt1', '%064d', '%s', 1, 1, 1)`,
				q.id, i, q.details)); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		for _, q := range quotes {
			var got string
			if err := db.QueryRowContext(t.Context(), `SELECT COALESCE(uma_request_id, '') FROM uma_quotes WHERE id = $1`, q.id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != q.want {
				t.Errorf("quote %s pays UMA request %q after the upgrade, want %q", q.id, got, q.want)
			}
		}
	})
}

// TestUpgradeUtxoCallbacksKeptOnce: callbacks kept before migration 0520
// keyed them by content, duplicates among them included (retries of one
// callback were all kept), survive it unchanged, and a sender's retry of
// one of them is not kept again after it.
func TestUpgradeUtxoCallbacksKeptOnce(t *testing.T) {
	old := func(amount int64, nonce string) string {
		b, err := json.Marshal(uma.PostTransactionCallback{VaspDomain: "vasp1.example", Signature: "3044", SignatureNonce: nonce,
			SignatureTimestamp: 1, Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: amount}}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const txID = "Transaction:0197a0d4-6a5e-7000-8000-000000000001"
	storetest.EachUpgrade(t, 520, func(t *testing.T, db *sql.DB) {
		if _, err := db.Exec(`INSERT INTO uma_transactions (id, direction, status, user_id, platform_user_id,
			our_address, counterparty, payment_hash, invoice, currency, amount, msats, fee, counter_currency, counter_amount,
			failure_reason, details, approval, created_at, updated_at, settled_at)
			VALUES ('` + txID + `', 'INCOMING', 'COMPLETED', 'User:1', 'p', '$bob@x', '$alice@vasp1.example', '` + strings.Repeat("0", 64) + `',
			'lnbcrt1', 'EUR', 1, 1000, 0, 'EUR', 1, '', '{}', '', 1, 1, 1)`); err != nil {
			t.Fatal(err)
		}
		for i, body := range []string{old(1000, "1"), old(1000, "2"), old(2000, "3")} {
			if _, err := db.Exec(fmt.Sprintf(`INSERT INTO uma_utxo_callbacks (id, transaction_id, vasp_domain, body, received_at)
				VALUES ('UtxoCallback:%d', '%s', 'vasp1.example', '%s', 1)`, i, txID, body)); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		if n := utxoCallbackRows(t, db, txID); n != 3 {
			t.Fatalf("%d callbacks after the upgrade, want the 3 kept before", n)
		}
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for _, amount := range []int64{1000, 2000} {
			cb := uma.PostTransactionCallback{VaspDomain: "vasp1.example", Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: amount}}}
			wantCode(t, s.ReceiveUtxoCallback(t.Context(), txID, signedCallback(t, alices.Signing, w.clock.Now(), cb)), "")
		}
		if n := utxoCallbackRows(t, db, txID); n != 3 {
			t.Fatalf("%d callbacks after retries of those kept before the upgrade, want 3", n)
		}
		cb := uma.PostTransactionCallback{VaspDomain: "vasp1.example", Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 3000}}}
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), txID, signedCallback(t, alices.Signing, w.clock.Now(), cb)), "")
		if n := utxoCallbackRows(t, db, txID); n != 4 {
			t.Fatalf("%d callbacks after a new one, want 4", n)
		}
	})
}

// TestUpgradeQuoteRefreshBound: migration 0616 keeps the first terms of a
// pending auto-refresh quote not refreshed yet (its terms are still
// those), and leaves NULL those it cannot know (a quote refreshed already)
// or that are of no use (an executed quote, one that does not refresh).
func TestUpgradeQuoteRefreshBound(t *testing.T) {
	quotes := []struct {
		id, status string
		auto       bool
		refreshed  int
		want       bool // first terms kept
	}{
		{"Quote:held", "PENDING", true, 0, true},
		{"Quote:refreshed", "PENDING", true, 1, false},
		{"Quote:paid", "COMPLETED", true, 0, false},
		{"Quote:plain", "PENDING", false, 0, false},
	}
	storetest.EachUpgrade(t, 616, func(t *testing.T, old *sql.DB) {
		for i, q := range quotes {
			if _, err := old.Exec(fmt.Sprintf(`INSERT INTO uma_quotes (id, lookup_id, user_id, status, locked_side, sending_currency,
				sending_amount, fee, receiving_currency, receiving_amount, msats, invoice, payment_hash, details, expires_at, created_at, updated_at,
				auto_refresh, refresh_count)
				VALUES ('%s', 'Lookup:1', 'User:1', '%s', 'RECEIVING', 'USD', 1100, 3, 'EUR', 1000, 1000, 'lnbcrt1', '%064d', '{}', 1, 1, 1, %t, %d)`,
				q.id, q.status, i, q.auto, q.refreshed)); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		for _, q := range quotes {
			var debit, credit sql.NullInt64
			if err := db.QueryRowContext(t.Context(), `SELECT initial_sending_amount, initial_receiving_amount FROM uma_quotes WHERE id = $1`,
				q.id).Scan(&debit, &credit); err != nil {
				t.Fatal(err)
			}
			if q.want != (debit.Valid && credit.Valid && debit.Int64 == 1100 && credit.Int64 == 1000) || debit.Valid != credit.Valid {
				t.Errorf("quote %s: first terms %v, %v after the upgrade", q.id, debit, credit)
			}
		}
	})
}
