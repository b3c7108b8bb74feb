package delivery

import (
	"context"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
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
		`PREPARE claim(TEXT, BIGINT, BIGINT, BIGINT, TEXT) AS ` + claimQuery(db.Driver(), false),
		`PREPARE claim_traced(TEXT, BIGINT, BIGINT, BIGINT, TEXT) AS ` + claimQuery(db.Driver(), true),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for stmt, want := range map[string]string{
		"due(0)":                             "Index Cond: ((endpoint_id = e.id)",
		"claim('x', 0, 10, 0, 'tok')":        "Index Scan using webhook_deliveries_due on webhook_deliveries webhook_deliveries_1  (cost",
		"claim_traced('x', 0, 10, 0, 'tok')": "Index Scan using webhook_deliveries_due on webhook_deliveries webhook_deliveries_1  (cost",
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

// TestRecordingPlanFollowsTheTable: recording a batch of results must find
// its deliveries by primary key once the table has grown, whatever plans
// were made while it was small. pgx prepares each statement text once per
// connection, and PostgreSQL soon runs a prepared statement from a generic
// plan it keeps: made on a small table, the recording's join scanned all of
// webhook_deliveries on every later batch of the same size (round 9 of
// docs/webhook-engine-benchmarks.md). The statement is now planned at every
// call, for the table as it is. (Whether the old plan survives to the scan
// also depends on the server: DDL in any schema, say another test creating
// its own, makes every session drop its cached plans. So the test also
// checks the cause, that the statement is not kept prepared.)
func TestRecordingPlanFollowsTheTable(t *testing.T) {
	db := storetest.Postgres(t)
	db.SQL().SetMaxOpenConns(1) // one connection: one statement cache, one backend
	ctx := context.Background()
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	rc := newReceiver(t)
	mustEndpoint(t, s, rc.URL)
	// A batch of this size, recorded often enough on the small table for
	// PostgreSQL to settle on a plan for it.
	const batch = 4 // within the first claims' slow-start window
	round := func() (*worker, []finished) {
		t.Helper()
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for range batch {
				if _, err := s.Enqueue(ctx, tx, Event{Type: TypeTest}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(s)
		if n, _, err := w.claim(ctx); err != nil || n != batch {
			t.Fatalf("claim: %d %v", n, err)
		}
		w.wg.Wait()
		close(w.results)
		var fs []finished
		for f := range w.results {
			fs = append(fs, f)
		}
		return w, fs
	}
	for range 8 {
		w, fs := round()
		if err := w.record(fs); err != nil {
			t.Fatal(err)
		}
	}
	// The table grows (as it does in a day's traffic).
	if _, err := db.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts,
			next_attempt_at, lease_token, first_attempt_at, last_status, last_error, created_at, updated_at, finished_at)
		SELECT 'WebhookDelivery:old-' || g, 'Webhook:old-' || g, 'WebhookEndpoint:old', 'delivered', 1,
			0, '', 1, 200, '', 1, 1, 1 FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	// Not a prepared statement of this connection's (pgx prepares a query
	// under a name unless told otherwise): so no plan of it is kept.
	var kept int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_prepared_statements
		WHERE (statement LIKE '%INSERT INTO webhook_attempts%' OR statement LIKE '%UPDATE webhook_deliveries SET status%')
			AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != 0 {
		t.Errorf("the recording's statements are kept prepared (%d), so PostgreSQL may keep a plan made on a small table", kept)
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 150000 {
		return // pg_stat_force_next_flush, below, is new in 15
	}
	// Sequential scans of webhook_deliveries so far, as the server counts
	// them once this backend has flushed its statistics (PostgreSQL 15+).
	seqScans := func() int64 {
		t.Helper()
		if _, err := db.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT seq_scan FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = 'webhook_deliveries'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	w, fs := round()
	before := seqScans()
	if err := w.record(fs); err != nil {
		t.Fatal(err)
	}
	if n := seqScans() - before; n != 0 {
		t.Errorf("recording %d results scanned webhook_deliveries %d times; want lookups by id", batch, n)
	}
	var delivered int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'
		AND endpoint_id <> 'WebhookEndpoint:old'`).Scan(&delivered); err != nil {
		t.Fatal(err)
	}
	if delivered != 9*batch {
		t.Errorf("%d deliveries delivered, want %d", delivered, 9*batch)
	}
	var logged int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_attempts WHERE status_code = 200 AND attempt = 1`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != 9*batch {
		t.Errorf("%d attempts logged, want %d", logged, 9*batch)
	}
}
