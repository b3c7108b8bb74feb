package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// complete records finished attempts in batches: one transaction for up to
// 512 results or whatever arrived within a couple of milliseconds. Batching
// is what lets SQLite keep up with the HTTP side. A batch that fails to
// commit is retried; if the process dies first, the leases expire and the
// deliveries are attempted again (same webhookId), which is the
// at-least-once contract.
func (w *worker) complete() {
	const maxBatch = 512
	var batch []finished
	closed := false // Run is stopping: no more results will come
	failures := 0
	for {
		// Results left from the last transaction (a chunk, or a failed
		// commit) go out without waiting for stragglers.
		wait := 2 * time.Millisecond
		if len(batch) > 0 {
			wait = 0
		} else {
			if closed {
				return
			}
			f, ok := <-w.results
			if !ok {
				return
			}
			batch = append(batch, f)
		}
		// Gather what is already there, and give stragglers a moment.
		linger := time.NewTimer(wait)
	gather:
		for len(batch) < maxBatch && !closed {
			select {
			case f, ok := <-w.results:
				if !ok {
					closed = true
					break gather
				}
				batch = append(batch, f)
			case <-linger.C:
				break gather
			}
		}
		linger.Stop()
		n := recordChunk(batch)
		if err := w.record(batch[:n]); err != nil {
			failures++
			if closed && failures >= 50 {
				// Shutting down with the database unreachable: do not hang.
				// The leases expire and the deliveries are attempted again.
				w.s.opt.Log.Error("giving up recording webhook attempts at shutdown; they will be attempted again",
					"n", len(batch), "err", err)
				batch, failures = batch[:0], 0
				continue
			}
			w.s.opt.Log.Warn("recording webhook attempts failed; retrying", "n", n, "err", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		batch, failures = append(batch[:0], batch[n:]...), 0
	}
}

// recordCost bounds the work of one recording transaction. A success costs
// 1 (an attempt row and a delivery update); a failure costs more, since it
// also hands back its endpoint's claimed rows and updates the endpoint. A
// hundred endpoints timing out together are thus recorded in several short
// transactions, between which other writers — on SQLite, every other
// transaction of the process — get their turn, instead of one long one
// that a healthy endpoint's next claim and its producers wait behind.
const recordCost = 128

// recordChunk returns how many results from the front of batch make one
// recording transaction (at least one).
func recordChunk(batch []finished) int {
	cost := 0
	for i, f := range batch {
		c := 1
		if classify(f.res.status) != outcomeDelivered {
			c = 4 + len(f.release)
		}
		if i > 0 && cost+c > recordCost {
			return i
		}
		cost += c
	}
	return len(batch)
}

// goneReason is the disabled_reason of an endpoint that answered 410 Gone.
const goneReason = "410 Gone from the receiver"

type endpointChange struct {
	streak     int64
	changed    bool
	backoff    time.Time
	disable    string
	successful bool
	// goneURLs are the URLs that answered 410: the endpoint is disabled
	// only if its URL is still one of them, not if the platform pointed it
	// elsewhere while the attempt was in flight.
	goneURLs []string
	disabled bool // committed: this batch disabled the endpoint
	// wasDisabled: a 410 found the endpoint disabled already (by the
	// platform, or an earlier 410) and left it, and its reason, as it was;
	// reason is that reason.
	wasDisabled bool
	reason      string
}

// record writes a batch of results: attempt rows, delivery states, endpoint
// failure streaks, back-offs and 410 disabling.
func (w *worker) record(batch []finished) error {
	s := w.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := s.opt.Clock.Now()
	us := store.Micros(now)

	// Endpoint state is computed in arrival order from what this process
	// knows: each endpoint's streak before the batch, and the endpoint's
	// gen (updated_at) it holds under.
	w.mu.Lock()
	base := map[string]streakBase{}
	for _, f := range batch {
		id := f.c.t.id
		if _, ok := base[id]; ok {
			continue
		}
		b := streakBase{streak: f.c.t.streak, gen: f.c.t.gen}
		if st, ok := w.streak[id]; ok {
			b.streak = st
			if g, known := w.gens[id]; known {
				b.gen = g
			}
		}
		base[id] = b
	}
	w.mu.Unlock()
	known := s.endpointChanges(batch, base)
	eps := known
	// The endpoints whose rows this batch writes: every 410 is a change.
	// In the common case (every attempt delivered, no streak to reset)
	// there is none, and no endpoint row is read or written.
	var changed []string
	for id, ec := range known {
		if ec.changed {
			changed = append(changed, id)
		}
	}
	slices.Sort(changed)

	var outcomes []outcomeLabel
	err := s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		outcomes = outcomes[:0]
		// The attempt log; on PostgreSQL it is written by the deliveries'
		// statement (recordDeliveriesPG).
		pg := tx.Driver().Name() == "postgres"
		if !pg {
			if err := insertAttempts(ctx, tx, batch); err != nil {
				return err
			}
		}
		// Endpoint rows before delivery rows, in id order: see
		// lockEndpoints, which also reads their gens. An endpoint changed
		// since its streak was known here — re-enabled, which starts the
		// streak over, by any process, while these attempts were in
		// flight — counts this batch's results on the row's streak.
		gens, err := lockEndpoints(ctx, tx, changed)
		if err != nil {
			return err
		}
		// base stays as read (InBackgroundTx may run this again): the
		// moved readings go in a copy, made only when one moved.
		eps = known
		var cur map[string]streakBase
		for id, g := range gens {
			if base[id].gen != g.gen {
				if cur == nil {
					cur = maps.Clone(base)
				}
				cur[id] = g
			}
		}
		if cur != nil {
			eps = s.endpointChanges(batch, cur)
		}
		// 410s disable their endpoints before the deliveries are updated:
		// a delivery's last_error says whether its endpoint was disabled,
		// which only this tells.
		for _, id := range changed {
			if err := disableGone(ctx, tx, s, id, eps[id], us); err != nil {
				return err
			}
		}
		if err := updateStreaks(ctx, tx, changed, eps); err != nil {
			return err
		}
		if pg {
			outcomes, err = s.recordDeliveriesPG(ctx, tx, batch, eps, now, us)
		} else {
			outcomes, err = s.recordDeliveries(ctx, tx, batch, eps, now, us)
		}
		if err != nil {
			return err
		}
		if s.recordLocked != nil {
			s.recordLocked()
		}
		var released []claimed
		for _, f := range batch {
			released = append(released, f.release...)
		}
		return releaseIn(ctx, tx, released, us)
	})
	if err != nil {
		return err
	}
	// Only what committed is counted and remembered.
	w.mu.Lock()
	for id, ec := range eps {
		w.streak[id] = ec.streak
	}
	for _, f := range batch {
		if id := f.c.t.id; classify(f.res.status) != outcomeDelivered && w.failing[id] > 0 {
			if w.failing[id]--; w.failing[id] == 0 {
				delete(w.failing, id)
			}
		}
	}
	w.mu.Unlock()
	for id, ec := range eps {
		switch {
		case ec.disabled:
			s.opt.Log.Warn("webhook endpoint disabled", "endpoint", id, "reason", ec.disable)
		case ec.wasDisabled:
			s.opt.Log.Info("410 Gone from a webhook endpoint disabled already; its reason stays", "endpoint", id)
		case ec.disable != "":
			s.opt.Log.Info("410 Gone from a webhook endpoint's former URL; not disabled", "endpoint", id)
		}
		if ec.changed {
			s.m.streak(id, ec.streak)
		}
	}
	for i, f := range batch {
		s.m.attempt(f.res)
		s.m.outcome(outcomes[i])
	}
	return nil
}

// streakBase is an endpoint's failure streak before a batch, and the gen
// (the row's updated_at) it holds under.
type streakBase struct {
	streak int64
	gen    int64
}

// endpointChanges computes, in arrival order, what batch does to its
// endpoints' streaks, back-offs and enablement, from each one's streak
// before it (base).
func (s *Service) endpointChanges(batch []finished, base map[string]streakBase) map[string]*endpointChange {
	eps := map[string]*endpointChange{}
	for _, f := range batch {
		id := f.c.t.id
		ec := eps[id]
		if ec == nil {
			ec = &endpointChange{streak: base[id].streak}
			eps[id] = ec
		}
		switch classify(f.res.status) {
		case outcomeDelivered:
			if ec.streak != 0 {
				ec.changed = true
			}
			ec.streak = 0
			ec.backoff = time.Time{}
			ec.successful = true
		case outcomeGone:
			ec.disable = goneReason
			ec.changed = true
			if !slices.Contains(ec.goneURLs, f.c.t.url) {
				ec.goneURLs = append(ec.goneURLs, f.c.t.url)
			}
		default:
			ec.streak++
			ec.changed = true
			// From when the failure was seen, not when the attempt
			// began: after a 10 s timeout a 1 s back-off counted from
			// the start has long run out, and the endpoint would be
			// probed again at once, all timed-out endpoints together.
			until := endpointBackoffUntil(s.opt.Retry, ec.streak, f.res.started.Add(f.res.latency), f.res.retryAfter, s.rnd)
			if until.After(ec.backoff) {
				ec.backoff = until
			}
		}
	}
	return eps
}

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

// lockEndpoints takes the row locks of endpoints ids (sorted), in that
// order, before record writes any delivery row — on PostgreSQL; SQLite's
// write transactions are exclusive and need no lock order — and returns
// each one's streak and gen (updated_at) as committed.
//
// Every other transaction that writes both tables locks the endpoint first:
// UpdateEndpoint (the endpoint, then, re-enabling it, its waiting
// deliveries), DeleteEndpoint and SetPrimaryURL (the endpoint, then all its
// pending deliveries, leased ones included), Redeliver and replay chunks
// (lockLiveEndpoint, then the re-queued rows), Send (a 410's endpoint, then
// its delivery). record used to update its deliveries first and the
// failure streaks last, so recording a failure while its endpoint was being
// deleted deadlocked: each held a row the other waited for, until
// PostgreSQL aborted one (40P01) after deadlock_timeout and InTx ran it
// again — a second's stall, no loss (TestRecordLocksEndpointsFirst).
//
// The rows are locked in id order by one statement (ORDER BY makes
// PostgreSQL lock them in that order: locking follows the sort in its
// plans), since the order in which one UPDATE … FROM VALUES locks its rows
// is the plan's: two processes recording failures for the same endpoints
// must not take them in opposite orders. Read under the lock, the gens
// tell record whether an endpoint changed (was re-enabled, by any process)
// since the streak it counts from was known (TestReenabledDuringAttemptStreakStartsOver).
// That costs one statement, only in a batch whose results changed an
// endpoint (failures, 410s, the first success after failures).
func lockEndpoints(ctx context.Context, tx *store.Tx, ids []string) (map[string]streakBase, error) {
	out := make(map[string]streakBase, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	lock := ""
	if tx.Driver().Name() == "postgres" {
		// FOR NO KEY UPDATE is the lock the UPDATEs take anyway.
		lock = " FOR NO KEY UPDATE"
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, failure_streak, updated_at FROM webhook_endpoints WHERE id IN (`+
		store.Placeholders(1, len(ids))+`) ORDER BY id`+lock, anys(ids)...)
	if err != nil {
		return nil, fmt.Errorf("lock endpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var b streakBase
		if err := rows.Scan(&id, &b.streak, &b.gen); err != nil {
			return nil, fmt.Errorf("lock endpoints: %w", err)
		}
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock endpoints: %w", err)
	}
	return out, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// disableGoneURL disables endpoint id for a 410 Gone from url, in tx, and
// reports whether it did: only if the endpoint still has that URL (not if
// the platform pointed it elsewhere while the attempt was in flight) and is
// still enabled (an operator's reason for disabling it stays).
func disableGoneURL(ctx context.Context, tx *store.Tx, id, url string, us int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, updated_at = $3
		WHERE id = $1 AND url = $4 AND enabled`, id, goneReason, us, url)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// disableGone disables endpoint id, in tx, if a result in the batch was a
// 410 from the URL it still has, and records in ec what happened. Only an
// enabled endpoint is disabled: one the platform disabled while the attempt
// was in flight keeps its reason ("disabled by an operator"), which is what
// a re-enabling operator must see. When nothing was disabled, one more read
// (410s only) tells the delivery's log why: disabled already, or the 410
// came from a URL the endpoint no longer has.
func disableGone(ctx context.Context, tx *store.Tx, s *Service, id string, ec *endpointChange, us int64) error {
	ec.disabled, ec.wasDisabled, ec.reason = false, false, ""
	if ec.disable == "" {
		return nil
	}
	s.endpointsChanged() // before the write, as updateEndpoint does
	for _, u := range ec.goneURLs {
		disabled, err := disableGoneURL(ctx, tx, id, u, us)
		if err != nil {
			return err
		}
		if disabled {
			ec.disabled = true
			return nil
		}
	}
	var enabled bool
	err := tx.QueryRowContext(ctx, `SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1`, id).
		Scan(&enabled, &ec.reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // cannot be (endpoints are deleted softly); nothing to say
	}
	if err != nil {
		return err
	}
	ec.wasDisabled = !enabled
	return nil
}

// updateStreaks writes the failure streak and back-off of the endpoints in
// ids, many rows per statement.
func updateStreaks(ctx context.Context, tx *store.Tx, ids []string, eps map[string]*endpointChange) error {
	pg := tx.Driver().Name() == "postgres"
	for start := 0; start < len(ids); start += 200 {
		end := min(start+200, len(ids))
		p := newParams(tx.Driver())
		var b strings.Builder
		// A back-off of 0 (a success ended it) is written as it is; any
		// other only if it is later than the row's. The row may hold a
		// longer one, set by an answer this batch did not see: a receiver's
		// Retry-After recorded in an earlier batch, by a synchronous send or
		// by another process. A failure recorded after it, with the short
		// back-off of its streak, would otherwise end that wait early.
		b.WriteString(`UPDATE webhook_endpoints SET failure_streak = v.column2,
			backoff_until = CASE WHEN v.column3 = 0 OR webhook_endpoints.backoff_until < v.column3
				THEN v.column3 ELSE webhook_endpoints.backoff_until END FROM (VALUES `)
		args := make([]any, 0, 3*(end-start))
		for i, id := range ids[start:end] {
			if i > 0 {
				b.WriteString(", ")
			}
			if pg {
				b.WriteString("(CAST(" + p.next() + " AS TEXT), CAST(" + p.next() + " AS BIGINT), CAST(" + p.next() + " AS BIGINT))")
			} else {
				b.WriteString("(" + p.list(3) + ")")
			}
			ec := eps[id]
			args = append(args, id, ec.streak, store.Micros(ec.backoff))
		}
		b.WriteString(`) AS v WHERE webhook_endpoints.id = v.column1`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("update endpoint streaks: %w", err)
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
