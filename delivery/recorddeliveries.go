package delivery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// What a batch of results does to its deliveries: their attempt-log rows
// and their next state, on SQLite and on PostgreSQL.

// insertAttempts writes the batch's attempt-log rows on SQLite, many rows
// per statement.
func insertAttempts(ctx context.Context, tx *store.Tx, batch []finished) error {
	const cols = 7
	for start, end := 0, 0; start < len(batch); start = end {
		end = start + statementRows(tx.Driver(), len(batch)-start, 100)
		args := make([]any, 0, (end-start)*cols)
		var q strings.Builder
		q.WriteString(`INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_us, status_code, response_body, error) VALUES `)
		p := newParams(tx.Driver())
		for i, f := range batch[start:end] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + p.list(cols) + ")")
			n := f.c.attempts + 1
			body := f.res.body
			if body == nil {
				body = []byte{}
			}
			args = append(args, f.c.id, n, store.Micros(f.res.started),
				f.res.latency.Microseconds(), f.res.status, body, f.res.errString())
		}
		// A lease that expired mid-attempt (it cannot, attempts are
		// bounded by a shorter timeout, but be safe) may log the same
		// attempt number twice: keep the first.
		q.WriteString(" ON CONFLICT (delivery_id, attempt) DO NOTHING")
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert attempts: %w", err)
		}
	}
	return nil
}

// recordDeliveries moves the batch's deliveries on after their attempts, on
// SQLite, many rows per statement (UPDATE … FROM VALUES), and returns each
// outcome's metric label. Every row is guarded by its lease token: a late
// result from an expired lease changes nothing.
func (s *Service) recordDeliveries(ctx context.Context, tx *store.Tx, batch []finished, eps map[string]*endpointChange,
	now time.Time, us int64) ([]outcomeLabel, error) {
	labels, ups := s.nextStates(batch, eps, now, us)
	const cols = 9
	for start, end := 0, 0; start < len(batch); start = end {
		end = start + statementRows(tx.Driver(), len(batch)-start, 100)
		var b strings.Builder
		p := newParams(tx.Driver())
		b.WriteString(`UPDATE webhook_deliveries SET status = CASE WHEN v.column3 = '' THEN webhook_deliveries.status ELSE v.column3 END,
			attempts = v.column4, first_attempt_at = v.column5,
			last_status = v.column6, last_error = v.column7,
			next_attempt_at = CASE WHEN v.column8 < 0 THEN webhook_deliveries.next_attempt_at ELSE v.column8 END,
			lease_token = '', updated_at = ` + p.next() + `,
			finished_at = CASE WHEN v.column9 < 0 THEN webhook_deliveries.finished_at ELSE v.column9 END
			FROM (VALUES `)
		args := make([]any, 0, 1+(end-start)*cols)
		args = append(args, us)
		for i := start; i < end; i++ {
			c, r, u := batch[i].c, batch[i].res, ups[i]
			first := c.first
			if first.IsZero() {
				first = r.started
			}
			if i > start {
				b.WriteString(", ")
			}
			// SQLite compares and stores the bound values as they are.
			b.WriteString("(" + p.list(cols) + ")")
			args = append(args, c.id, c.token, u.status, c.attempts+1, store.Micros(first), int64(r.status), u.lastError,
				u.nextAt, u.finished)
		}
		b.WriteString(`) AS v WHERE webhook_deliveries.id = v.column1 AND webhook_deliveries.lease_token = v.column2`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return nil, fmt.Errorf("update deliveries: %w", err)
		}
	}
	return labels, nil
}

// recordAttemptsPG is recordDeliveriesPG's statement: the deliveries'
// update of recordDeliveries, with the batch's attempt-log rows written by
// the same statement, in one fixed text whatever the batch's size, its rows
// passed as arrays (binary, one parameter per column). The INSERT is a data-modifying WITH, so the
// recording transaction is one round trip shorter; it locks nothing the
// lock order (lockEndpoints) cares about, as the attempt log has no foreign
// keys. A lease that expired mid-attempt (it cannot, attempts are bounded by
// a shorter timeout, but be safe) may log the same attempt number twice:
// the first is kept.
//
// It is planned at every call (store.PlanPerCall): pgx would otherwise
// prepare it once per connection, and the plan PostgreSQL then keeps for a
// prepared statement, made while the table was small, joined the arrays to
// a sequential scan of all of webhook_deliveries — in the throughput
// benchmark, every other recording scanned the whole table (docs/webhook-
// engine-benchmarks.md, round 9). Planned with the arrays at hand, the join
// goes through the primary key once the table has grown
// (TestRecordingPlanFollowsTheTable).
const recordAttemptsPG = `WITH attempt AS (
		INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_us, status_code, response_body, error)
		SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bytea[], $8::text[])
		ON CONFLICT (delivery_id, attempt) DO NOTHING)
	UPDATE webhook_deliveries SET status = CASE WHEN v.status = '' THEN webhook_deliveries.status ELSE v.status END,
		attempts = v.attempt, first_attempt_at = v.first_at,
		last_status = v.code, last_error = v.last_error,
		next_attempt_at = CASE WHEN v.next_at < 0 THEN webhook_deliveries.next_attempt_at ELSE v.next_at END,
		lease_token = '', updated_at = $1,
		finished_at = CASE WHEN v.finished < 0 THEN webhook_deliveries.finished_at ELSE v.finished END
	FROM unnest($2::text[], $9::text[], $10::text[], $3::bigint[], $11::bigint[], $6::bigint[], $12::text[], $13::bigint[], $14::bigint[])
		AS v (id, token, status, attempt, first_at, code, last_error, next_at, finished)
	WHERE webhook_deliveries.id = v.id AND webhook_deliveries.lease_token = v.token`

// recordDeliveriesPG writes the batch's attempt-log rows and moves its
// deliveries on, on PostgreSQL (recordAttemptsPG), and returns each
// outcome's metric label.
func (s *Service) recordDeliveriesPG(ctx context.Context, tx *store.Tx, batch []finished, eps map[string]*endpointChange,
	now time.Time, us int64) ([]outcomeLabel, error) {
	labels, ups := s.nextStates(batch, eps, now, us)
	n := len(batch)
	var (
		ids, errs, tokens, statuses, lastErrs     = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts, started, latency, codes, firsts = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		nextAt, finished                          = make([]int64, n), make([]int64, n)
		bodies                                    = make([][]byte, n)
	)
	for i, f := range batch {
		c, r, u := f.c, f.res, ups[i]
		first := c.first
		if first.IsZero() {
			first = r.started
		}
		body := r.body
		if body == nil {
			body = []byte{} // NOT NULL: a nil slice would be sent as NULL
		}
		ids[i], attempts[i], started[i], latency[i], codes[i], bodies[i], errs[i] =
			c.id, c.attempts+1, store.Micros(r.started), r.latency.Microseconds(), int64(r.status), body, r.errString()
		tokens[i], statuses[i], firsts[i], lastErrs[i], nextAt[i], finished[i] =
			c.token, u.status, store.Micros(first), u.lastError, u.nextAt, u.finished
	}
	args := []any{us, ids, attempts, started, latency, codes, bodies, errs, tokens, statuses, firsts, lastErrs, nextAt, finished}
	if _, err := tx.ExecContext(ctx, recordAttemptsPG, store.PlanPerCall(tx.Driver(), args)...); err != nil {
		return nil, fmt.Errorf("record attempts: %w", err)
	}
	return labels, nil
}
