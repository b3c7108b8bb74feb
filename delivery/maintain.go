package delivery

import (
	"context"
	"time"

	"github.com/vaspd/vaspd/store"
)

// maintain runs the periodic chores beside the worker: replay jobs, queue
// gauges, retention pruning and forgetting endpoints (forget.go). Each is safe to run in several processes.
func (s *Service) maintain(ctx context.Context) {
	jobs := time.NewTicker(time.Second)
	defer jobs.Stop()
	gauges := time.NewTicker(10 * time.Second)
	defer gauges.Stop()
	prune := time.NewTimer(time.Minute) // not at start: starts should be quick
	defer prune.Stop()
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-jobs.C:
			if err := s.runJobs(ctx); err != nil && ctx.Err() == nil {
				s.opt.Log.Warn("webhook replay job failed", "err", err)
			}
		case <-gauges.C:
			s.refreshGauges(ctx)
		case <-sweep.C:
			sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
			if err := s.sweepEndpoints(sctx); err != nil && ctx.Err() == nil {
				s.opt.Log.Warn("forgetting deleted and idle webhook endpoints failed", "err", err)
			}
			cancel()
		case <-prune.C:
			if n, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.opt.Log.Warn("webhook retention pruning failed", "err", err)
			} else if n > 0 {
				s.opt.Log.Info("pruned old webhook records", "rows", n)
			}
			prune.Reset(time.Hour)
		}
	}
}

// gaugesTimeout bounds one refresh of the queue gauges (every 10 s): a
// query that hangs (a lock held, a database gone quiet) would otherwise
// hold maintain, and every chore it runs, for as long. The gauges keep
// their last values until a refresh succeeds.
const gaugesTimeout = 5 * time.Second

// refreshGauges reads the queue gauges and the failure streaks from the
// database, within gaugesTimeout.
func (s *Service) refreshGauges(ctx context.Context) {
	if s.m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, gaugesTimeout)
	defer cancel()
	var n int64
	var oldest *int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'`).
		Scan(&n, &oldest); err != nil {
		return
	}
	// An event whose deliveries the fan-out has not all written yet is
	// pending too: normally for milliseconds, but a fan-out that keeps
	// failing, or an event to thousands of endpoints, must show in both
	// gauges. Its unwritten deliveries are the endpoints listed (one more
	// than the commas) less those written; an endpoint deleted since is
	// counted until the fan-out passes it.
	var owed int64
	var oldestFanOut *int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(LENGTH(endpoints) - LENGTH(REPLACE(endpoints, ',', '')) + 1 - written), 0),
		MIN(created_at) FROM webhook_fanouts`).Scan(&owed, &oldestFanOut); err != nil {
		return
	}
	n += max(owed, 0)
	if oldestFanOut != nil && *oldestFanOut > 0 && (oldest == nil || *oldest == 0 || *oldestFanOut < *oldest) {
		oldest = oldestFanOut
	}
	age := 0.0
	if oldest != nil && *oldest > 0 {
		age = max(s.opt.Clock.Now().Sub(store.Time(*oldest)).Seconds(), 0)
	}
	s.m.queue(n, age)
	s.refreshStreaks(ctx)
}

// refreshStreaks sets the failure streak gauge from the endpoint rows: one
// series per live endpoint, so a deleted endpoint's goes, and a streak
// ended or cleared elsewhere (another process's success, re-enabling)
// reads as the database says. Between refreshes record and Send set it as
// they see it.
func (s *Service) refreshStreaks(ctx context.Context) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, failure_streak FROM webhook_endpoints WHERE deleted_at = 0`)
	if err != nil {
		return
	}
	defer rows.Close()
	streaks := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return
		}
		streaks[id] = n
	}
	if rows.Err() != nil {
		return
	}
	s.m.streaksAre(streaks)
}

// Prune deletes what is older than the retention period: finished
// deliveries, attempts of deliveries no longer pending, events no delivery
// refers to, and finished jobs. It also fails synchronous sends that a crash
// (or a failure to record their end) left "sending", counted sync_failed,
// and dead-letters the pending deliveries of deleted endpoints (as
// DeleteEndpoint does) that a transaction racing the deletion queued: no
// worker would ever claim them. Endpoints are only ever deleted softly, so
// that search starts from the deleted ones and reads their rows through the
// queue index, instead of every pending row each hour. Those two updates
// test the status again outside their IN list: processes prune at once, and
// PostgreSQL, reading again a row another committed meanwhile, tests only
// the outer WHERE. Each transaction gets pruneStepTimeout. It returns how
// many rows went.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	now := s.opt.Clock.Now()
	cutoff := store.Micros(now.Add(-s.opt.Retention))
	var total int64
	steps := []struct {
		q    string
		args []any
		// syncFailed: the step fails synchronous sends, and each row it
		// updates is counted sync_failed.
		syncFailed bool
	}{
		{`UPDATE webhook_deliveries SET status = 'failed', last_error = 'interrupted: vaspd stopped during a synchronous send',
			lease_token = '', finished_at = $2, updated_at = $2
			WHERE status = 'sending' AND id IN (SELECT id FROM webhook_deliveries WHERE status = 'sending' AND created_at < $1 LIMIT 1000)`,
			[]any{store.Micros(now.Add(-time.Hour)), store.Micros(now)}, true},
		{`UPDATE webhook_deliveries SET status = 'dead', last_error = 'endpoint deleted', lease_token = '',
			updated_at = $1, finished_at = $1
			WHERE status = 'pending' AND id IN (SELECT d.id FROM webhook_endpoints e JOIN webhook_deliveries d
				ON d.endpoint_id = e.id AND d.status = 'pending' WHERE e.deleted_at > 0 LIMIT 1000)`,
			[]any{store.Micros(now)}, false},
		{`DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
			WHERE created_at < $1 AND status IN ('delivered', 'failed', 'dead') AND finished_at > 0 AND finished_at < $1 LIMIT 1000)`, []any{cutoff}, false},
		{`DELETE FROM webhook_attempts WHERE (delivery_id, attempt) IN (SELECT a.delivery_id, a.attempt FROM webhook_attempts a WHERE a.started_at < $1
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id AND d.status IN ('pending', 'sending'))
			LIMIT 1000)`, []any{cutoff}, false},
		{`DELETE FROM webhook_events WHERE id IN (SELECT ev.id FROM webhook_events ev WHERE ev.created_at < $1
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id)
			AND NOT EXISTS (SELECT 1 FROM webhook_fanouts f WHERE f.event_id = ev.id) LIMIT 1000)`, []any{cutoff}, false},
		{`DELETE FROM webhook_jobs WHERE id IN (SELECT id FROM webhook_jobs WHERE status IN ('completed', 'failed', 'canceled')
			AND finished_at < $1 LIMIT 1000)`, []any{cutoff}, false},
	}
	for _, st := range steps {
		for ctx.Err() == nil {
			var n int64
			sctx, cancel := context.WithTimeout(ctx, s.pruneStepTimeout)
			err := s.db.InBackgroundTx(sctx, func(tx *store.Tx) error {
				res, err := tx.ExecContext(sctx, st.q, st.args...)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			cancel()
			if err != nil {
				return total, err
			}
			total += n
			if st.syncFailed {
				// Synchronous sends whose end was never stored (a crash,
				// or recording it failed: Send counted nothing) end
				// here, failed, and are counted so, once: by the
				// process whose update took them. The outer status
				// test is what makes it once on PostgreSQL: a row
				// another process's prune updated first is read again
				// there, and the IN list, made before, would still
				// name it.
				for range n {
					s.m.outcome(labelSyncFailed)
				}
			}
			if n < 1000 {
				break
			}
		}
	}
	return total, ctx.Err()
}

// jobsTimeout bounds one run of replay jobs (runJobs) and pruneStepTimeout
// each transaction of a pruning pass (Prune, up to 1000 rows), so that a
// database call that hangs holds maintain, and every chore it runs, for
// that long at most, as gaugesTimeout bounds a refresh of the gauges. They
// are longer than its 5 s: these write up to 500 or 1000 rows, which a slow
// disk under load may take seconds over, and a bound that cut them every
// time would stop replays and pruning for good. 30 s is half a job's lease:
// a run cut short hands its job back long before the lease would end.
const (
	jobsTimeout      = 30 * time.Second
	pruneStepTimeout = 30 * time.Second
)
