package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Delivery is one event's journey to one endpoint, as the log shows it.
type Delivery struct {
	ID             string    `json:"id"`
	WebhookID      string    `json:"webhookId"`
	Type           string    `json:"type"`
	EndpointID     string    `json:"endpointId"`
	Status         string    `json:"status"`
	Attempts       int64     `json:"attempts"`
	NextAttemptAt  time.Time `json:"nextAttemptAt,omitzero"` // pending only
	FirstAttemptAt time.Time `json:"firstAttemptAt,omitzero"`
	LastStatus     int       `json:"lastResponseStatus,omitempty"`
	LastError      string    `json:"lastError,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	FinishedAt     time.Time `json:"finishedAt,omitzero"`
	Payload        []byte    `json:"-"` // the body sent; GetDelivery only
	AttemptLog     []Attempt `json:"attemptLog,omitempty"`
}

// Attempt is one HTTP attempt.
type Attempt struct {
	Attempt      int64     `json:"attempt"`
	StartedAt    time.Time `json:"startedAt"`
	LatencyMS    float64   `json:"latencyMs"`
	StatusCode   int       `json:"responseStatus,omitempty"`
	ResponseBody string    `json:"responseBody"` // first 8 KiB
	Error        string    `json:"error,omitempty"`
}

// DeliveryFilter narrows ListDeliveries; zero fields match everything.
type DeliveryFilter struct {
	EndpointID string
	Status     string // pending, sending, delivered, failed, dead
	Type       string
	WebhookID  string
	Since      time.Time // created at or after
	Until      time.Time // created before
}

const deliveryCols = `d.id, d.event_id, ev.type, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.first_attempt_at,
	d.last_status, d.last_error, d.created_at, d.updated_at, d.finished_at`

func scanDelivery(r scanner) (Delivery, error) {
	var d Delivery
	var next, first, created, updated, fin int64
	err := r.Scan(&d.ID, &d.WebhookID, &d.Type, &d.EndpointID, &d.Status, &d.Attempts, &next, &first,
		&d.LastStatus, &d.LastError, &created, &updated, &fin)
	if d.Status == StatusPending {
		d.NextAttemptAt = store.Time(next)
	}
	d.FirstAttemptAt, d.CreatedAt, d.UpdatedAt, d.FinishedAt = store.Time(first), store.Time(created), store.Time(updated), store.Time(fin)
	return d, err
}

// ValidStatus reports whether s is a delivery status.
func ValidStatus(s string) bool {
	switch s {
	case StatusPending, StatusSending, StatusDelivered, StatusFailed, StatusDead:
		return true
	}
	return false
}

func (f DeliveryFilter) where(args []any) (string, []any, error) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.EndpointID != "" {
		add("d.endpoint_id = ?", f.EndpointID)
	}
	if f.Status != "" {
		if !ValidStatus(f.Status) {
			return "", nil, vaspd.InvalidInput("status must be pending, sending, delivered, failed or dead")
		}
		add("d.status = ?", f.Status)
	}
	if f.Type != "" {
		add("ev.type = ?", f.Type)
	}
	if f.WebhookID != "" {
		add("d.event_id = ?", f.WebhookID)
	}
	if !f.Since.IsZero() {
		add("d.created_at >= ?", store.Micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("d.created_at < ?", store.Micros(f.Until))
	}
	if len(conds) == 0 {
		return "TRUE", args, nil
	}
	return strings.Join(conds, " AND "), args, nil
}

// ListDeliveries returns up to limit+1 deliveries, newest first, with ids
// before the cursor key before ("" = from the newest), for api.NewPage.
func (s *Service) ListDeliveries(ctx context.Context, f DeliveryFilter, before string, limit int) ([]Delivery, error) {
	args := []any{}
	cursor := "TRUE"
	if before != "" {
		args = append(args, before)
		cursor = "d.id < $1"
	}
	where, args, err := f.where(args)
	if err != nil {
		return nil, err
	}
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id
		WHERE `+cursor+` AND `+where+` ORDER BY d.id DESC LIMIT $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// GetDelivery returns one delivery with its payload and attempt log.
func (s *Service) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, vaspd.NotFound(vaspd.CodeWebhookDeliveryNotFound, "webhook delivery %s not found", vaspd.Truncate(id, 80))
	}
	if err != nil {
		return d, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT payload FROM webhook_events WHERE id = $1`, d.WebhookID).Scan(&d.Payload); err != nil {
		return d, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT attempt, started_at, latency_us, status_code, response_body, error
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	d.AttemptLog = []Attempt{}
	for rows.Next() {
		var a Attempt
		var started, lat int64
		var body []byte
		if err := rows.Scan(&a.Attempt, &started, &lat, &a.StatusCode, &body, &a.Error); err != nil {
			return d, err
		}
		a.StartedAt, a.LatencyMS, a.ResponseBody = store.Time(started), float64(lat)/1000, string(body)
		d.AttemptLog = append(d.AttemptLog, a)
	}
	return d, rows.Err()
}

// Redeliver schedules a finished delivery (delivered, failed or dead) for
// another round now, with a fresh retry window and the same webhookId. A
// pending delivery is made due now. A sending one is refused.
func (s *Service) Redeliver(ctx context.Context, id string) (Delivery, error) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var status, endpoint string
		err := tx.QueryRowContext(ctx, `SELECT status, endpoint_id FROM webhook_deliveries WHERE id = $1`, id).Scan(&status, &endpoint)
		if errors.Is(err, sql.ErrNoRows) {
			return vaspd.NotFound(vaspd.CodeWebhookDeliveryNotFound, "webhook delivery %s not found", vaspd.Truncate(id, 80))
		}
		if err != nil {
			return err
		}
		if status == StatusSending {
			return vaspd.Conflict(vaspd.CodeConflict, "delivery %s is being sent synchronously", id)
		}
		if err := lockLiveEndpoint(ctx, tx, endpoint); err != nil {
			return err
		}
		return s.requeue(ctx, tx, []string{id})
	})
	if err != nil {
		return Delivery{}, err
	}
	s.Wake()
	return s.GetDelivery(ctx, id)
}

// lockLiveEndpoint returns NotFound unless the endpoint exists and is not
// deleted, and holds its row until tx ends, so that a deletion cannot commit
// between this check and deliveries re-queued to the endpoint: on
// PostgreSQL a concurrent DeleteEndpoint waits for tx and then dead-letters
// what tx made pending, or tx waits for it and finds the endpoint gone.
// (SQLite's write transactions are exclusive already.)
func lockLiveEndpoint(ctx context.Context, tx *store.Tx, id string) error {
	res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET updated_at = updated_at WHERE id = $1 AND deleted_at = 0`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return vaspd.NotFound(vaspd.CodeWebhookEndpointNotFound, "webhook endpoint %s not found", vaspd.Truncate(id, 80))
	}
	return nil
}

// requeue makes deliveries pending and due now with a fresh retry window.
// In-flight pending ones (leased) are left to finish; a lease that has ended
// (a claim moves next_attempt_at to its end) holds nothing.
func (s *Service) requeue(ctx context.Context, tx *store.Tx, ids []string) error {
	us := store.Micros(s.opt.Clock.Now())
	for start := 0; start < len(ids); start += 500 {
		end := min(start+500, len(ids))
		args := []any{us}
		for _, id := range ids[start:end] {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1,
			first_attempt_at = 0, finished_at = 0, lease_token = '', updated_at = $1
			WHERE (status IN ('delivered', 'failed', 'dead') OR (status = 'pending' AND (lease_token = '' OR next_attempt_at <= $1)))
			  AND id IN (`+store.Placeholders(2, end-start)+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}
