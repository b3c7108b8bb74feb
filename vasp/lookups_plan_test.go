package vasp_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestPurgeLookupsUsesIndexes: the hourly purge of old lookups finds them
// by age and asks of each whether a quote names it through indexes, on
// both databases: without them, every purge statement (1 000 lookups each)
// would read every lookup and, for each, every quote.
func TestPurgeLookupsUsesIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		// 4 000 lookups, one an hour apart; a quote of every fourth.
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4000)
			INSERT INTO uma_lookups (id, user_id, receiver, response, created_at)
			SELECT 'Lookup:l' || n, 'User:u' || (n % 400), '$c' || (n % 500) || '@theirs.example', '{}', n * 3600000000 FROM g`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000)
			INSERT INTO uma_quotes (id, lookup_id, user_id, status, locked_side, sending_currency, sending_amount, fee,
				receiving_currency, receiving_amount, msats, invoice, payment_hash, details, expires_at, created_at, updated_at)
			SELECT 'Quote:q' || n, 'Lookup:l' || (n * 4), 'User:u' || (n % 400), 'COMPLETED', 'SENDING', 'USD', 100, 0,
				'EUR', 90, 1000000, 'lnbcrt1', 'h' || n, '{}', n, n, n FROM g`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		// A purge of the oldest tenth. PostgreSQL's planner reads tables
		// this small whole (and hashes them) whatever the indexes: with
		// sequential scans priced out, the plan shows whether an index
		// can serve each read. (On 300 000 lookups of 2 KB, as real
		// lookups are, and 75 000 quotes, it chooses these indexes
		// itself: 1 000 lookups deleted in 8 ms.)
		var plan string
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if db.Driver().Name() == "postgres" {
				if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
					return err
				}
			}
			plan = storetest.Explain(t, tx, vasp.PurgeLookupsQuery, int64(400*3600000000), 1000)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, idx := range []string{"uma_lookups_created", "uma_quotes_lookup"} {
			if !strings.Contains(plan, idx) {
				t.Errorf("the purge's plan does not use %s:\n%s", idx, plan)
			}
		}
		for _, table := range []string{"uma_lookups", "uma_quotes"} {
			if strings.Contains(plan, "Seq Scan on "+table) || strings.Contains(plan, "SCAN "+table+"\n") ||
				strings.Contains(plan, "SCAN l\n") || strings.Contains(plan, "SCAN q\n") {
				t.Errorf("the purge's plan reads the whole of %s:\n%s", table, plan)
			}
		}
	})
}
