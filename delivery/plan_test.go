package delivery

import (
	"context"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store/storetest"
)

// TestQueuePlansUseTheQueueIndex: PostgreSQL's generic plans for the two
// queries of every claim must find an endpoint's due rows through the queue
// index, by endpoint, even with a fresh table's statistics (the first minute
// of a new database, before autovacuum's ANALYZE). With EXISTS, the query
// before each claim scanned every due row of every endpoint per endpoint,
// which beside a hundred backlogged endpoints made each claim 15–110 ms.
func TestQueuePlansUseTheQueueIndex(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE due(BIGINT) AS ` + dueEndpointsQuery,
		`PREPARE claim(TEXT, BIGINT, BIGINT, BIGINT, TEXT) AS ` + claimQuery(db.Driver()),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for stmt, want := range map[string]string{
		"due(0)":                      "Index Cond: ((endpoint_id = e.id)",
		"claim('x', 0, 10, 0, 'tok')": "Index Scan using webhook_deliveries_due on webhook_deliveries webhook_deliveries_1  (cost",
	} {
		rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE `+stmt)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan.String(), want) {
			t.Errorf("%s does not use the queue index by endpoint:\n%s", stmt, plan.String())
		}
	}
}
