package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// ReplayParams select the deliveries a replay job sends again: those of one
// endpoint created in [Since, Until), optionally only with one status
// (default: every finished one — delivered, failed and dead).
type ReplayParams struct {
	EndpointID string    `json:"endpointId"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Status     string    `json:"status,omitempty"`
}

// Job is a background job (a replay) and its progress.
type Job struct {
	ID         string       `json:"id"`
	Kind       string       `json:"kind"`
	Status     string       `json:"status"` // pending, running, completed, failed, canceled
	Params     ReplayParams `json:"params"`
	Processed  int64        `json:"processed"`
	Error      string       `json:"error,omitempty"`
	CreatedAt  time.Time    `json:"createdAt"`
	UpdatedAt  time.Time    `json:"updatedAt"`
	FinishedAt time.Time    `json:"finishedAt,omitzero"`
}

// StartReplay queues a replay job; a running worker (in any process) does it
// in chunks, resuming after a crash where it stopped.
func (s *Service) StartReplay(ctx context.Context, p ReplayParams) (Job, error) {
	if p.EndpointID == "" {
		return Job{}, vaspd.InvalidInput("endpointId is required")
	}
	if p.Since.IsZero() || p.Until.IsZero() || !p.Until.After(p.Since) {
		return Job{}, vaspd.InvalidInput("since and until are required, with since before until")
	}
	if p.Status != "" && p.Status != StatusDelivered && p.Status != StatusFailed && p.Status != StatusDead {
		return Job{}, vaspd.InvalidInput("status must be delivered, failed or dead")
	}
	raw, _ := json.Marshal(p)
	id := vaspd.NewID(vaspd.IDJob)
	us := store.Micros(s.opt.Clock.Now())
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// The endpoint's row, held until commit, also orders two
		// concurrent replays of it (PostgreSQL): the second sees the first.
		if err := lockLiveEndpoint(ctx, tx, p.EndpointID); err != nil {
			return err
		}
		if err := refuseOverlappingReplay(ctx, tx, p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_jobs (id, kind, params, status, cursor, processed, error,
			lease_until, created_at, updated_at, finished_at) VALUES ($1, 'replay', $2, 'pending', '', 0, '', 0, $3, $3, 0)`,
			id, string(raw), us); err != nil {
			return fmt.Errorf("delivery: queue replay: %w", err)
		}
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	return s.GetJob(ctx, id)
}

// refuseOverlappingReplay returns a 409 if a pending or running replay of
// p's endpoint covers part of p's range: what that job re-queues and the
// worker delivers again, a second job would re-queue once more.
func refuseOverlappingReplay(ctx context.Context, tx *store.Tx, p ReplayParams) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, params FROM webhook_jobs
		WHERE kind = 'replay' AND status IN ('pending', 'running') ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return err
		}
		var q ReplayParams
		if json.Unmarshal([]byte(raw), &q) != nil || q.EndpointID != p.EndpointID {
			continue
		}
		if q.Since.Before(p.Until) && p.Since.Before(q.Until) {
			return vaspd.Conflict(vaspd.CodeConflict, "replay job %s of endpoint %s covers part of this range (%s to %s) and has not ended; "+
				"wait for it, or cancel it (POST /webhooks/replays/%s/cancel)", id, p.EndpointID,
				q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339), id)
		}
	}
	return rows.Err()
}

// JobCanceled is the status of a job CancelJob stopped.
const JobCanceled = "canceled"

// CancelJob stops a pending or running job: a pending one never starts, a
// running one stops before its next chunk (a chunk under way, whose
// deliveries are re-queued, commits or not as a whole; on PostgreSQL the
// cancellation waits for it). What the job re-queued already is sent. A
// finished job is a 409.
func (s *Service) CancelJob(ctx context.Context, id string) (Job, error) {
	us := store.Micros(s.opt.Clock.Now())
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_jobs SET status = $2, error = 'canceled by an operator', lease_until = 0,
		updated_at = $3, finished_at = $3 WHERE id = $1 AND status IN ('pending', 'running')`, id, JobCanceled, us)
	if err != nil {
		return Job{}, fmt.Errorf("delivery: cancel job: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Job{}, err
	}
	j, err := s.GetJob(ctx, id)
	if err == nil && n == 0 {
		return j, vaspd.Conflict(vaspd.CodeConflict, "job %s is %s already", id, j.Status)
	}
	return j, err
}

// GetJob returns a job's progress.
func (s *Service) GetJob(ctx context.Context, id string) (Job, error) {
	var j Job
	var params string
	var created, updated, fin int64
	err := s.db.QueryRowContext(ctx, `SELECT id, kind, params, status, processed, error, created_at, updated_at, finished_at
		FROM webhook_jobs WHERE id = $1`, id).Scan(&j.ID, &j.Kind, &params, &j.Status, &j.Processed, &j.Error, &created, &updated, &fin)
	if errors.Is(err, sql.ErrNoRows) {
		return j, vaspd.NotFound(vaspd.CodeNotFound, "job %s not found", vaspd.Truncate(id, 80))
	}
	if err != nil {
		return j, err
	}
	_ = json.Unmarshal([]byte(params), &j.Params)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = store.Time(created), store.Time(updated), store.Time(fin)
	return j, nil
}

const jobLease = time.Minute

// errJobLost stops work on a job whose lease ran out and that another
// process has claimed since.
var errJobLost = errors.New("delivery: replay job lease lost")

// runJobs takes one due job (pending, or running with an expired lease: its
// process died) and works it to the end. Its lease_until, as this process
// last set it, is its claim: every write to the job checks it, so a
// process that stalled past its lease, while another took the job over,
// neither re-queues a chunk again nor ends the job.
//
// A run lasts at most s.jobsTimeout (jobsTimeout): maintain runs it between
// its other chores, and a database call that hangs (a lock held, a database
// gone quiet) held them all for as long. A run cut short hands its job
// back, as on a graceful stop; the next run (a second later, here or in
// any process) resumes it from its cursor, so a long replay goes on in
// runs of that length.
func (s *Service) runJobs(ctx context.Context) error {
	stop := ctx
	ctx, cancel := context.WithTimeout(ctx, s.jobsTimeout)
	defer cancel()
	for ctx.Err() == nil {
		now := s.opt.Clock.Now()
		us := store.Micros(now)
		lease := store.Micros(now.Add(jobLease))
		var id, params, cursor string
		var processed int64
		err := s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
			err := tx.QueryRowContext(ctx, `SELECT id, params, cursor, processed FROM webhook_jobs
				WHERE status IN ('pending', 'running') AND lease_until <= $1 ORDER BY id LIMIT 1 `+tx.Driver().SkipLocked(), us).
				Scan(&id, &params, &cursor, &processed)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET status = 'running', lease_until = $2, updated_at = $3 WHERE id = $1`,
				id, lease, us)
			return err
		})
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var p ReplayParams
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			return s.finishJob(ctx, id, lease, "failed", "bad parameters: "+err.Error())
		}
		if err := s.replayChunks(ctx, id, p, cursor, &lease); err != nil {
			if ctx.Err() != nil {
				// Stopping, or the run's time is up: the chunk in flight,
				// cut short, committed whole (cursor and renewed lease
				// together) or not at all, and nothing here works on the
				// job any more.
				s.releaseJob(ctx, id, lease)
				if stop.Err() == nil {
					s.opt.Log.Info("webhook replay job handed back at the end of its run's time; it resumes", "job", id,
						"limit", s.jobsTimeout)
				}
				return nil
			}
			if errors.Is(err, errJobLost) {
				s.opt.Log.Warn("webhook replay job canceled, or taken over by another process", "job", id)
				continue
			}
			var verr *vaspd.Error
			if errors.As(err, &verr) {
				// Final: the endpoint was deleted, the parameters are
				// not valid. Another try would end the same way.
				return s.finishJob(ctx, id, lease, "failed", err.Error())
			}
			// Anything else is the database's (a connection lost, a
			// timeout, a lock): the job is resumed, in chunks from its
			// cursor, a bounded number of times.
			if rerr := s.retryJob(ctx, id, lease, err); rerr != nil {
				// Not even that could be written: the lease ends on its own.
				return fmt.Errorf("replay job %s: %w (and recording it: %v)", id, err, rerr)
			}
		}
	}
	return nil
}

// replayChunks works job jobID from cursor on, under *lease (renewed).
func (s *Service) replayChunks(ctx context.Context, jobID string, p ReplayParams, cursor string, lease *int64) error {
	f := DeliveryFilter{EndpointID: p.EndpointID, Since: p.Since, Until: p.Until}
	for ctx.Err() == nil {
		if s.jobChunk != nil {
			s.jobChunk()
		}
		var (
			n    int
			last string
		)
		now := s.opt.Clock.Now()
		renewed := store.Micros(now.Add(jobLease))
		err := s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
			// First, while the lease is still ours: this also holds the
			// job's row until the chunk commits.
			// A chunk that commits ends a run of failures (retryJob).
			res, err := tx.ExecContext(ctx, `UPDATE webhook_jobs SET lease_until = $2, updated_at = $3, failures = 0, error = ''
				WHERE id = $1 AND status = 'running' AND lease_until = $4`, jobID, renewed, store.Micros(now), *lease)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errJobLost
			}
			// An endpoint deleted meanwhile ends the job (failed, "not
			// found"): its deliveries must not become pending again.
			if err := lockLiveEndpoint(ctx, tx, p.EndpointID); err != nil {
				return err
			}
			args := []any{cursor}
			where, args, err := f.where(args)
			if err != nil {
				return err
			}
			status := "d.status IN ('delivered', 'failed', 'dead')"
			if p.Status != "" {
				args = append(args, p.Status)
				status = fmt.Sprintf("d.status = $%d", len(args))
			}
			rows, err := tx.QueryContext(ctx, `SELECT d.id FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
				WHERE d.id > $1 AND `+where+` AND `+status+` ORDER BY d.id LIMIT 500`, args...)
			if err != nil {
				return err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			n, last = len(ids), cursor
			if n > 0 {
				if err := s.requeue(ctx, tx, ids); err != nil {
					return err
				}
				last = ids[n-1]
			}
			if n < 500 {
				// The last chunk: the job ends with it, in its transaction,
				// not in a statement of its own after it, which a run's
				// end (its time up, a stop) could cut short, handing the
				// job back "running" to be taken again just to end it.
				_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET cursor = $2, processed = processed + $3,
					status = 'completed', error = '', lease_until = 0, updated_at = $4, finished_at = $4
					WHERE id = $1`, jobID, last, n, store.Micros(now))
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET cursor = $2, processed = processed + $3
				WHERE id = $1`, jobID, last, n)
			return err
		})
		if err != nil {
			return err
		}
		*lease = renewed
		if s.jobChunkDone != nil {
			s.jobChunkDone()
		}
		if n > 0 {
			cursor = last
			s.Wake()
		}
		if n < 500 {
			return nil // completed, with the chunk
		}
	}
	return ctx.Err()
}

// maxJobFailures is how many times in a row a replay job's chunk may fail
// before the job fails: each failure lets the job be resumed after
// jobRetryDelay, so it gives up after about five minutes of errors from a
// database that could still record them — one that can never run the chunk.
// (While the database cannot be written at all, nothing is counted: the
// lease ends and the job resumes once it is back.)
const maxJobFailures = 10

// jobRetryDelay is how long a job waits after its n-th failure in a row:
// 2 s doubling, at most the lease.
func jobRetryDelay(n int64) time.Duration {
	return min(2*time.Second<<min(n-1, 10), jobLease)
}

// retryJob records that job id, under lease, failed with cause: it stays
// running, with cause as its error, and its lease ends after jobRetryDelay,
// when any process resumes it from its cursor; the maxJobFailures-th
// failure in a row fails it with the reason. The job's failures count is
// in its row, so it holds across processes and restarts.
func (s *Service) retryJob(ctx context.Context, id string, lease int64, cause error) error {
	now := s.opt.Clock.Now()
	us := store.Micros(now)
	return s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		var n int64
		err := tx.QueryRowContext(ctx, `SELECT failures FROM webhook_jobs WHERE id = $1 AND status = 'running' AND lease_until = $2`,
			id, lease).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // taken over meanwhile: the other process decides
		}
		if err != nil {
			return err
		}
		n++
		if n >= maxJobFailures {
			msg := fmt.Sprintf("gave up after %d failed attempts in a row; the last: %v", n, cause)
			s.opt.Log.Warn("webhook replay job failed", "job", id, "failures", n, "err", cause)
			_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET status = 'failed', failures = $3, error = $4,
				lease_until = 0, updated_at = $5, finished_at = $5 WHERE id = $1 AND lease_until = $2`,
				id, lease, n, logText(msg, 1000), us)
			return err
		}
		delay := jobRetryDelay(n)
		s.opt.Log.Warn("webhook replay job interrupted; it resumes", "job", id, "failures", n, "in", delay, "err", cause)
		msg := fmt.Sprintf("attempt %d of %d failed, resuming: %v", n, maxJobFailures, cause)
		_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET failures = $3, error = $4, lease_until = $5, updated_at = $6
			WHERE id = $1 AND lease_until = $2`, id, lease, n, logText(msg, 1000), store.Micros(now.Add(delay)), us)
		return err
	})
}

// releaseJob hands job id back on a graceful stop, so that any process
// resumes it from its cursor at once rather than when lease ends. Only a
// job still under lease (this process's claim, as last renewed) is
// touched: one another process took over keeps its own. It runs on a
// context of its own, ctx having ended, bounded by releaseTimeout as the
// hand-back of claimed deliveries is: not by the job's lease (a minute),
// which a stop would wait out; if it fails, the lease ends as after a
// crash. On PostgreSQL a chunk cut short may still be open on the
// server for a moment; it holds the job's row from its first statement, so
// this UPDATE waits for it, and finds the lease renewed if it committed.
func (s *Service) releaseJob(ctx context.Context, id string, lease int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `UPDATE webhook_jobs SET lease_until = 0, updated_at = $2
		WHERE id = $1 AND status = 'running' AND lease_until = $3`, id, store.Micros(s.opt.Clock.Now()), lease)
	if err != nil {
		s.opt.Log.Warn("webhook replay job not handed back; its lease will end", "job", id, "err", err)
	}
}

// finishJob ends job id if lease is still its claim.
func (s *Service) finishJob(ctx context.Context, id string, lease int64, status, msg string) error {
	us := store.Micros(s.opt.Clock.Now())
	_, err := s.db.ExecContext(ctx, `UPDATE webhook_jobs SET status = $2, error = $3, lease_until = 0, updated_at = $4,
		finished_at = $4 WHERE id = $1 AND lease_until = $5`, id, status, logText(msg, 1000), us, lease)
	return err
}
