package delivery

import (
	"context"
	"fmt"
	"net/http"
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
		if len(batch) == 0 {
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
		linger := time.NewTimer(2 * time.Millisecond)
	gather:
		for len(batch) < maxBatch {
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
		if err := w.record(batch); err != nil {
			failures++
			if closed && failures >= 50 {
				// Shutting down with the database unreachable: do not hang.
				// The leases expire and the deliveries are attempted again.
				w.s.opt.Log.Error("giving up recording webhook attempts at shutdown; they will be attempted again",
					"n", len(batch), "err", err)
				batch, failures = batch[:0], 0
				continue
			}
			w.s.opt.Log.Warn("recording webhook attempts failed; retrying", "n", len(batch), "err", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		batch, failures = batch[:0], 0
	}
}

type endpointChange struct {
	streak     int64
	changed    bool
	backoff    time.Time
	disable    string
	successful bool
}

// record writes a batch of results: attempt rows, delivery states, endpoint
// failure streaks, back-offs and 410 disabling.
func (w *worker) record(batch []finished) error {
	s := w.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := s.opt.Clock.Now()
	us := store.Micros(now)

	// Endpoint state is computed in arrival order from what this process knows.
	w.mu.Lock()
	eps := map[string]*endpointChange{}
	for _, f := range batch {
		id := f.c.t.id
		ec := eps[id]
		if ec == nil {
			st, ok := w.streak[id]
			if !ok {
				st = f.c.t.streak
			}
			ec = &endpointChange{streak: st}
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
			ec.disable = "410 Gone from the receiver"
			ec.changed = true
		default:
			ec.streak++
			ec.changed = true
			until := f.res.started.Add(max(endpointBackoff(ec.streak), f.res.retryAfter))
			if until.After(ec.backoff) {
				ec.backoff = until
			}
		}
	}
	w.mu.Unlock()

	var outcomes []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		outcomes = outcomes[:0]
		// Attempt log, many rows per statement.
		const cols = 8
		for start := 0; start < len(batch); start += 100 {
			end := min(start+100, len(batch))
			args := make([]any, 0, (end-start)*cols)
			q := `INSERT INTO webhook_attempts (id, delivery_id, attempt, started_at, latency_us, status_code, response_body, error) VALUES `
			for i, f := range batch[start:end] {
				if i > 0 {
					q += ", "
				}
				q += "(" + placeholders(i*cols+1, cols) + ")"
				n := f.c.attempts + 1
				body := f.res.body
				if body == nil {
					body = []byte{}
				}
				args = append(args, fmt.Sprintf("%s/%d", f.c.id, n), f.c.id, n, store.Micros(f.res.started),
					f.res.latency.Microseconds(), f.res.status, body, f.res.errString())
			}
			// A lease that expired mid-attempt (it cannot, attempts are
			// bounded by a shorter timeout, but be safe) may log the same
			// attempt number twice: keep the first.
			q += " ON CONFLICT (id) DO NOTHING"
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("insert attempts: %w", err)
			}
		}
		for _, f := range batch {
			o, err := s.recordDelivery(ctx, tx, f, now, us)
			if err != nil {
				return err
			}
			outcomes = append(outcomes, o)
		}
		for id, ec := range eps {
			if ec.disable != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, updated_at = $3
					WHERE id = $1`, id, ec.disable, us); err != nil {
					return err
				}
			}
			if !ec.changed {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failure_streak = $2, backoff_until = $3 WHERE id = $1`,
				id, ec.streak, store.Micros(ec.backoff)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only what committed is counted and remembered.
	w.mu.Lock()
	for id, ec := range eps {
		w.streak[id] = ec.streak
	}
	w.mu.Unlock()
	for id, ec := range eps {
		if ec.disable != "" {
			s.opt.Log.Warn("webhook endpoint disabled", "endpoint", id, "reason", ec.disable)
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

// recordDelivery moves one delivery on after its attempt and returns the
// outcome's metric label.
func (s *Service) recordDelivery(ctx context.Context, tx *store.Tx, f finished, now time.Time, us int64) (string, error) {
	c, r := f.c, f.res
	n := c.attempts + 1
	first := c.first
	if first.IsZero() {
		first = r.started
	}
	var err error
	var label string
	switch classify(r.status) {
	case outcomeDelivered:
		label = StatusDelivered
		_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'delivered', attempts = $3, first_attempt_at = $4,
			last_status = $5, last_error = '', lease_token = '', updated_at = $6, finished_at = $6
			WHERE id = $1 AND lease_token = $2`, c.id, c.token, n, store.Micros(first), r.status, us)
	case outcomeGone:
		// The delivery waits, due at once, for its endpoint to be re-enabled.
		label = "gone"
		_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $3, first_attempt_at = $4, last_status = $5,
			last_error = $6, next_attempt_at = $7, lease_token = '', updated_at = $7
			WHERE id = $1 AND lease_token = $2`, c.id, c.token, n, store.Micros(first), r.status,
			"410 Gone: endpoint disabled until re-enabled", us)
	default:
		msg := r.errString()
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d %s", r.status, http.StatusText(r.status))
		}
		at, dead := s.opt.Retry.next(int(n), first, now, r.retryAfter, s.rnd)
		if dead {
			label = StatusDead
			s.opt.Log.Warn("webhook dead-lettered", "delivery", c.id, "endpoint", c.t.id, "attempts", n)
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'dead', attempts = $3, first_attempt_at = $4,
				last_status = $5, last_error = $6, lease_token = '', updated_at = $7, finished_at = $7
				WHERE id = $1 AND lease_token = $2`, c.id, c.token, n, store.Micros(first), r.status, msg, us)
		} else {
			label = "retry"
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $3, first_attempt_at = $4,
				last_status = $5, last_error = $6, next_attempt_at = $7, lease_token = '', updated_at = $8
				WHERE id = $1 AND lease_token = $2`, c.id, c.token, n, store.Micros(first), r.status, msg,
				store.Micros(at), us)
		}
	}
	if err != nil {
		return "", fmt.Errorf("update delivery %s: %w", c.id, err)
	}
	return label, nil
}
