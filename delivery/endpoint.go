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
	"github.com/vaspd/vaspd/webhook"
)

// Endpoint is a receiver of webhooks, as shown by the management API. Its
// secrets are never part of it: they are returned once, on creation and
// rotation.
type Endpoint struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	Description    string    `json:"description"`
	EventTypes     []string  `json:"eventTypes"` // empty = every type
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabledReason,omitempty"`
	Primary        bool      `json:"primary"` // the platform config's webhookEndpoint
	TimeoutMS      int64     `json:"timeoutMs,omitempty"`
	SignEd25519    bool      `json:"signEd25519"`
	FailureStreak  int64     `json:"failureStreak"`
	BackoffUntil   time.Time `json:"backoffUntil,omitzero"`
	// PreviousSecretUntil is when the rotated-out secret stops signing.
	PreviousSecretUntil time.Time `json:"previousSecretUntil,omitzero"`
	CreatedAt           time.Time `json:"createdAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
}

// EndpointInput creates or changes an endpoint; nil fields are left alone
// (on creation: URL is required, Enabled defaults to true).
type EndpointInput struct {
	URL         *string   `json:"url,omitempty"`
	Description *string   `json:"description,omitempty"`
	EventTypes  *[]string `json:"eventTypes,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
	TimeoutMS   *int64    `json:"timeoutMs,omitempty"`
	SignEd25519 *bool     `json:"signEd25519,omitempty"`
}

const endpointCols = `id, url, description, event_types, enabled, disabled_reason, is_primary, timeout_ms,
	sign_ed25519, failure_streak, backoff_until, prev_secret_until, created_at, updated_at`

func scanEndpoint(r scanner) (Endpoint, error) {
	var e Endpoint
	var types string
	var backoff, prevUntil, created, updated int64
	if err := r.Scan(&e.ID, &e.URL, &e.Description, &types, &e.Enabled, &e.DisabledReason, &e.Primary, &e.TimeoutMS,
		&e.SignEd25519, &e.FailureStreak, &backoff, &prevUntil, &created, &updated); err != nil {
		return e, err
	}
	e.EventTypes = []string{}
	if types != "" {
		e.EventTypes = strings.Split(types, ",")
	}
	e.BackoffUntil, e.PreviousSecretUntil = store.Time(backoff), store.Time(prevUntil)
	e.CreatedAt, e.UpdatedAt = store.Time(created), store.Time(updated)
	return e, nil
}

// newSecret returns a fresh "whsec_" secret, stored as its bytes.
func newSecret() ([]byte, error) {
	s, err := webhook.NewSecret()
	return []byte(s), err
}

// CreateEndpoint adds an endpoint and returns it with its signing secret,
// which is shown only now.
func (s *Service) CreateEndpoint(ctx context.Context, in EndpointInput) (Endpoint, string, error) {
	if in.URL == nil {
		return Endpoint{}, "", vaspd.InvalidInput("url is required")
	}
	var e Endpoint
	var secret []byte
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		e, secret, err = s.createEndpoint(ctx, tx, in, false)
		return err
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, string(secret), nil
}

func (s *Service) createEndpoint(ctx context.Context, tx *store.Tx, in EndpointInput, primary bool) (Endpoint, []byte, error) {
	if err := s.validate(in); err != nil {
		return Endpoint{}, nil, err
	}
	if err := s.checkEndpointCap(ctx, tx); err != nil {
		return Endpoint{}, nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return Endpoint{}, nil, err
	}
	id := vaspd.NewID(vaspd.IDEndpoint)
	us := store.Micros(s.opt.Clock.Now())
	enabled := in.Enabled == nil || *in.Enabled
	s.endpointsChanged() // before the write: the enqueue match cache must not outlive it
	_, err = tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, disabled_reason,
		is_primary, timeout_ms, sign_ed25519, secret, prev_secret, prev_secret_until, failure_streak, backoff_until,
		created_at, updated_at, deleted_at)
		VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, $9, NULL, 0, 0, 0, $10, $10, 0)`,
		id, *in.URL, deref(in.Description), strings.Join(derefSlice(in.EventTypes), ","), enabled, primary,
		deref(in.TimeoutMS), deref(in.SignEd25519), secret, us)
	if err != nil {
		return Endpoint{}, nil, fmt.Errorf("delivery: create endpoint: %w", err)
	}
	e, err := getEndpoint(ctx, tx, id)
	return e, secret, err
}

// endpointCapLock names the settings row whose lock endpoint creations
// take before they count the live endpoints (checkEndpointCap).
const endpointCapLock = "delivery.endpoint_cap_lock"

// checkEndpointCap refuses one more endpoint when Options.MaxEndpoints are
// live. Two creations at once must not both see the cap not reached: on
// PostgreSQL (READ COMMITTED) each takes the lock of one settings row
// first, created if missing, and counts after it, so the second counts
// once the first has committed (or rolled back) and sees its endpoint;
// SQLite's write transactions are exclusive already.
func (s *Service) checkEndpointCap(ctx context.Context, tx *store.Tx) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, '', 0)
		ON CONFLICT (name) DO NOTHING`, endpointCapLock); err != nil {
		return fmt.Errorf("delivery: endpoint cap lock: %w", err)
	}
	var v string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1 `+tx.Driver().ForUpdate(), endpointCapLock).Scan(&v); err != nil {
		return fmt.Errorf("delivery: endpoint cap lock: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE deleted_at = 0`).Scan(&n); err != nil {
		return fmt.Errorf("delivery: count endpoints: %w", err)
	}
	if n >= s.opt.MaxEndpoints {
		return vaspd.Conflict(vaspd.CodeConflict, "%d webhook endpoints exist, the most allowed (webhook-max-endpoints); delete one before creating another",
			n).WithDetails(map[string]any{"maxEndpoints": s.opt.MaxEndpoints})
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefSlice(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

func getEndpoint(ctx context.Context, q store.Querier, id string) (Endpoint, error) {
	e, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = $1 AND deleted_at = 0`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, vaspd.NotFound(vaspd.CodeWebhookEndpointNotFound, "webhook endpoint %s not found", vaspd.Truncate(id, 80))
	}
	return e, err
}

// GetEndpoint returns one endpoint.
func (s *Service) GetEndpoint(ctx context.Context, id string) (Endpoint, error) {
	return getEndpoint(ctx, s.db, id)
}

// ListEndpoints returns up to limit+1 endpoints with ids after the cursor
// key after (oldest first), for api.NewPage.
func (s *Service) ListEndpoints(ctx context.Context, after string, limit int) ([]Endpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints
		WHERE deleted_at = 0 AND id > $1 ORDER BY id LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// UpdateEndpoint changes the fields set in in. Re-enabling an endpoint
// clears its failure state, and its waiting deliveries resume at once.
func (s *Service) UpdateEndpoint(ctx context.Context, id string, in EndpointInput) (Endpoint, error) {
	if err := s.validate(in); err != nil {
		return Endpoint{}, err
	}
	var e Endpoint
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		e, err = s.updateEndpoint(ctx, tx, id, in)
		return err
	})
	if err == nil && e.Enabled {
		s.Wake()
	}
	return e, err
}

func (s *Service) updateEndpoint(ctx context.Context, tx *store.Tx, id string, in EndpointInput) (Endpoint, error) {
	cur, err := getEndpoint(ctx, tx, id)
	if err != nil {
		return cur, err
	}
	us := store.Micros(s.opt.Clock.Now())
	set := []string{"updated_at = $2"}
	args := []any{id, us}
	add := func(col string, v any) {
		args = append(args, v)
		set = append(set, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if in.URL != nil {
		add("url", *in.URL)
	}
	if in.Description != nil {
		add("description", *in.Description)
	}
	if in.EventTypes != nil {
		add("event_types", strings.Join(*in.EventTypes, ","))
	}
	if in.TimeoutMS != nil {
		add("timeout_ms", *in.TimeoutMS)
	}
	if in.SignEd25519 != nil {
		add("sign_ed25519", *in.SignEd25519)
	}
	if in.Enabled != nil {
		add("enabled", *in.Enabled)
		if *in.Enabled && !cur.Enabled {
			set = append(set, "disabled_reason = ''", "failure_streak = 0", "backoff_until = 0",
				"streak_resets = streak_resets + 1")
		}
		if !*in.Enabled && cur.Enabled {
			add("disabled_reason", "disabled by an operator")
		}
	}
	s.endpointsChanged() // before the write: the enqueue match cache must not outlive it
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET `+strings.Join(set, ", ")+` WHERE id = $1`, args...); err != nil {
		return cur, fmt.Errorf("delivery: update endpoint: %w", err)
	}
	if in.Enabled != nil && *in.Enabled && !cur.Enabled {
		// The streak starts over here as in the row: the worker takes the
		// larger of its own and the row's (a claim may read the row before
		// a failure it recorded commits), so its old one would outlive the
		// reset. Every process's worker drops its own at its next reading
		// of the row, whose gen moved (reconcile); this one's drops it at
		// once.
		tx.AfterCommit(func() { s.streakReset(id) })
		// The deliveries that waited resume now, with a fresh retry window:
		// the time the endpoint was disabled does not count against them.
		// Those leased by an attempt in flight are left to it; a lease
		// that has ended (its process died: a claim moves next_attempt_at
		// to the lease's end) holds nothing.
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $2, first_attempt_at = 0,
			lease_token = '', updated_at = $2
			WHERE endpoint_id = $1 AND status = 'pending' AND (lease_token = '' OR next_attempt_at <= $2)`, id, us); err != nil {
			return cur, fmt.Errorf("delivery: resume deliveries: %w", err)
		}
	}
	return getEndpoint(ctx, tx, id)
}

// DeleteEndpoint removes an endpoint. Its pending deliveries become dead
// ("endpoint deleted"), so they stay visible in the log; its secrets are
// wiped.
func (s *Service) DeleteEndpoint(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := getEndpoint(ctx, tx, id); err != nil {
			return err
		}
		return s.deleteEndpoint(ctx, tx, id)
	})
}

// wipedSecret is what a deleted endpoint's secret column holds instead of
// its secret (the column is NOT NULL): empty, which no signer takes (not a
// "whsec_" secret) and so never signs, let alone verifies. Non-nil: a nil
// slice is written as NULL.
var wipedSecret = []byte{}

// deleteEndpoint deletes softly: the row stays, as its deliveries (the log)
// refer to it, but not its secrets. Nothing is signed for a deleted
// endpoint again — every reader of the secret columns (claims, handoffs,
// synchronous sends) takes live endpoints only, its pending deliveries
// become dead here, and a redelivery or replay of them is refused (not
// found) — so they are wiped in the same transaction, the previous one of
// a rotation's grace period too; migration 0570 did the same for the
// endpoints deleted before. Once it commits, the worker's copy of them goes
// too (forget). (The ed25519 key of v1a signatures is vaspd's,
// shared by every endpoint, and stays.)
func (s *Service) deleteEndpoint(ctx context.Context, tx *store.Tx, id string) error {
	us := store.Micros(s.opt.Clock.Now())
	s.endpointsChanged() // before the write: the enqueue match cache must not outlive it
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = $2, enabled = FALSE, is_primary = FALSE,
		secret = $3, prev_secret = NULL, prev_secret_until = 0, updated_at = $2 WHERE id = $1`, id, us, wipedSecret); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'dead', last_error = 'endpoint deleted',
		lease_token = '', updated_at = $2, finished_at = $2 WHERE endpoint_id = $1 AND status = 'pending'`, id, us)
	// This process's memory of it, its secrets too, goes as well (forget.go).
	tx.AfterCommit(func() { s.forget([]string{id}) })
	return err
}

// RotateSecret gives the endpoint a new secret and returns it. The old one
// keeps signing beside it for grace (0 = Options.SecretGrace; negative =
// stop at once), so receivers can switch without losing a webhook.
//
// Only one old secret is kept, so a rotation with a grace period while an
// earlier one's grace runs is refused (409): it would end the earlier old
// secret's grace before the time promised. A rotation without grace (the
// caller ends every old secret now) is always allowed.
func (s *Service) RotateSecret(ctx context.Context, id string, grace time.Duration) (string, Endpoint, error) {
	if grace == 0 {
		grace = s.opt.SecretGrace
	}
	if grace > 7*24*time.Hour {
		return "", Endpoint{}, vaspd.InvalidInput("grace period must be at most 7 days")
	}
	secret, err := newSecret()
	if err != nil {
		return "", Endpoint{}, err
	}
	now := s.opt.Clock.Now()
	until := int64(0)
	if grace > 0 {
		until = store.Micros(now.Add(grace))
	}
	var e Endpoint
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// Before the write, as for any endpoint change: the worker's
		// readings (handoff.go) must not sign with the secrets it replaces.
		s.endpointsChanged()
		// The condition is in the UPDATE, so of two concurrent rotations
		// (PostgreSQL) the second sees the first's grace.
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET prev_secret = secret, prev_secret_until = $2,
			secret = $3, updated_at = $4
			WHERE id = $1 AND deleted_at = 0 AND ($5 OR prev_secret IS NULL OR prev_secret_until <= $4)`,
			id, until, secret, store.Micros(now), until == 0)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if e, err = getEndpoint(ctx, tx, id); err != nil || n == 1 {
			return err
		}
		return vaspd.Conflict(vaspd.CodeConflict, "webhook endpoint %s is in the grace period of its previous secret until %s; "+
			"rotating again now would end that secret's grace early: rotate after then, or with gracePeriodSeconds 0 "+
			"to stop every old secret now", id, e.PreviousSecretUntil.Format(time.RFC3339))
	})
	if err != nil {
		return "", Endpoint{}, err
	}
	return string(secret), e, nil
}
