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
	Status     string       `json:"status"` // pending, running, completed, failed
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
	if _, err := s.GetEndpoint(ctx, p.EndpointID); err != nil {
		return Job{}, err
	}
	raw, _ := json.Marshal(p)
	id := vaspd.NewID(vaspd.IDJob)
	us := store.Micros(s.opt.Clock.Now())
	if _, err := s.db.ExecContext(ctx, `INSERT INTO webhook_jobs (id, kind, params, status, cursor, processed, error,
		lease_until, created_at, updated_at, finished_at) VALUES ($1, 'replay', $2, 'pending', '', 0, '', 0, $3, $3, 0)`,
		id, string(raw), us); err != nil {
		return Job{}, fmt.Errorf("delivery: queue replay: %w", err)
	}
	return s.GetJob(ctx, id)
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

// runJobs takes one due job (pending, or running with an expired lease: its
// process died) and works it to the end.
func (s *Service) runJobs(ctx context.Context) error {
	for ctx.Err() == nil {
		now := s.opt.Clock.Now()
		us := store.Micros(now)
		var id, params, cursor string
		var processed int64
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			err := tx.QueryRowContext(ctx, `SELECT id, params, cursor, processed FROM webhook_jobs
				WHERE status IN ('pending', 'running') AND lease_until <= $1 ORDER BY id LIMIT 1 `+tx.Driver().SkipLocked(), us).
				Scan(&id, &params, &cursor, &processed)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET status = 'running', lease_until = $2, updated_at = $3 WHERE id = $1`,
				id, store.Micros(now.Add(jobLease)), us)
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
			return s.finishJob(ctx, id, "failed", "bad parameters: "+err.Error())
		}
		if err := s.replayChunks(ctx, id, p, cursor, processed); err != nil {
			if ctx.Err() != nil {
				return nil // the lease expires and another run resumes it
			}
			return s.finishJob(ctx, id, "failed", err.Error())
		}
	}
	return nil
}

func (s *Service) replayChunks(ctx context.Context, jobID string, p ReplayParams, cursor string, processed int64) error {
	f := DeliveryFilter{EndpointID: p.EndpointID, Since: p.Since, Until: p.Until}
	for ctx.Err() == nil {
		var n int
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
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
			n = len(ids)
			if n == 0 {
				return nil
			}
			if err := s.requeue(ctx, tx, ids); err != nil {
				return err
			}
			cursor = ids[n-1]
			now := s.opt.Clock.Now()
			_, err = tx.ExecContext(ctx, `UPDATE webhook_jobs SET cursor = $2, processed = processed + $3, lease_until = $4,
				updated_at = $5 WHERE id = $1`, jobID, cursor, n, store.Micros(now.Add(jobLease)), store.Micros(now))
			return err
		})
		if err != nil {
			return err
		}
		if n > 0 {
			s.Wake()
		}
		if n < 500 {
			return s.finishJob(ctx, jobID, "completed", "")
		}
	}
	return ctx.Err()
}

func (s *Service) finishJob(ctx context.Context, id, status, msg string) error {
	us := store.Micros(s.opt.Clock.Now())
	_, err := s.db.ExecContext(ctx, `UPDATE webhook_jobs SET status = $2, error = $3, lease_until = 0, updated_at = $4,
		finished_at = $4 WHERE id = $1`, id, status, logText(msg, 1000), us)
	return err
}
