package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// validate checks the fields that are set.
func (s *Service) validate(in EndpointInput) error {
	if in.URL != nil {
		if err := s.validateURL(*in.URL); err != nil {
			return err
		}
	}
	if in.Description != nil {
		d := *in.Description
		if len(d) > 1000 {
			return vaspd.InvalidInput("description is longer than 1000 bytes")
		}
		// Stored as text (PostgreSQL refuses NUL) and shown in consoles.
		if !utf8.ValidString(d) || strings.ContainsFunc(d, func(r rune) bool {
			return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
		}) {
			return vaspd.InvalidInput("description must be printable text")
		}
	}
	if in.EventTypes != nil {
		if len(*in.EventTypes) > 50 {
			return vaspd.InvalidInput("at most 50 event types")
		}
		for _, t := range *in.EventTypes {
			if !typePattern.MatchString(t) {
				return vaspd.InvalidInput("event type %q is not a webhook type such as INCOMING_PAYMENT", vaspd.Truncate(t, 64))
			}
			if len(s.opt.EventTypes) > 0 && !slices.Contains(s.opt.EventTypes, t) {
				return vaspd.InvalidInput("event type %q is not one this server sends (%s)", t, strings.Join(s.opt.EventTypes, ", "))
			}
		}
	}
	if in.TimeoutMS != nil {
		// 0 is the default (Options.AttemptTimeout, the operator's
		// setting); a timeout of the endpoint's own is bounded both ways.
		lo, hi := s.opt.MinAttemptTimeout.Milliseconds(), s.opt.MaxAttemptTimeout.Milliseconds()
		if ms := *in.TimeoutMS; ms != 0 && (ms < lo || ms > hi) {
			return vaspd.InvalidInput("timeoutMs must be 0 (the default, %d) or from %d to %d", s.opt.AttemptTimeout.Milliseconds(), lo, hi)
		}
	}
	return nil
}

// validateURL refuses what can never be delivered to: non-HTTP schemes,
// credentials in the URL, no host, a port outside 1–65535, and literal
// addresses the SSRF guard blocks. Host
// names are checked again at every connection, after DNS.
func (s *Service) validateURL(raw string) error {
	if len(raw) > 2048 {
		return vaspd.InvalidInput("url is longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return vaspd.InvalidInput("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return vaspd.InvalidInput("url must not contain credentials")
	}
	if u.Fragment != "" {
		return vaspd.InvalidInput("url must not contain a fragment")
	}
	host := u.Hostname()
	if host == "" {
		// "http://:80/" would be dialled as this machine.
		return vaspd.InvalidInput("url must name a host")
	}
	if p := u.Port(); p != "" {
		// url.Parse takes any digits; no connection can use these.
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return vaspd.InvalidInput("url's port must be from 1 to 65535")
		}
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr != nil && endsInNumber(host) {
		// The resolver (inet_aton) and URL parsers read "127.1",
		// "2130706433" or "0x7f.0.0.1" as an IPv4 address, the check
		// below does not: only the dotted quad is let through to it.
		return vaspd.InvalidInput("url's host %q is an IP address in a non-standard form; write IPv4 addresses as four decimal numbers (1.2.3.4)",
			vaspd.Truncate(host, 80))
	}
	if ipErr == nil && !s.guard.HostAllowed(host) {
		if err := s.guard.Check(ip); err != nil {
			return vaspd.InvalidInput("url points at a non-public address (%s); if intended, allow it with the webhook-allow-nets setting", ip)
		}
	} else if isLocalhost(host) && !s.guard.HostAllowed(host) {
		if err := s.guard.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
			return vaspd.InvalidInput("url points at localhost; if intended, allow it with the webhook-allow-nets setting")
		}
	}
	return nil
}

// endsInNumber reports whether host's last label (less a root's trailing
// dot) is a number, decimal or 0x-hex: what the WHATWG URL standard parses
// as IPv4, and the system resolver too.
func endsInNumber(host string) bool {
	h := strings.TrimSuffix(host, ".")
	last := strings.ToLower(h[strings.LastIndexByte(h, '.')+1:])
	digits := "0123456789"
	if strings.HasPrefix(last, "0x") {
		last, digits = last[2:], "0123456789abcdef"
		if last == "" {
			return true // "0x" alone is 0
		}
	}
	return last != "" && strings.Trim(last, digits) == ""
}

// isLocalhost reports whether host is "localhost" or a name under it (RFC
// 6761), however spelled: any case, with or without the root's trailing dot.
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
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
			set = append(set, "disabled_reason = ''", "failure_streak = 0", "backoff_until = 0")
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
		// reset. Every process's worker drops its own at its next claim,
		// which reads the row's new updated_at (claimFor); this one's
		// drops it at once.
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

// PrimaryEndpoint returns the platform config's endpoint, or ErrNoEndpoint.
func (s *Service) PrimaryEndpoint(ctx context.Context) (Endpoint, error) {
	e, err := scanEndpoint(s.db.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints
		WHERE is_primary AND deleted_at = 0 ORDER BY id LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNoEndpoint
	}
	return e, err
}

// SetPrimaryURL maps UMAaaS `PATCH /config {webhookEndpoint}` onto the primary
// endpoint, in the caller's transaction: it creates the endpoint (secret
// returned, non-empty only then) or changes its URL, and when the URL changed
// enqueues a TEST webhook to it. An empty url deletes the primary endpoint.
//
// A unique index keeps one live primary (migration 0440): when a concurrent
// transaction creates it first, this one uses theirs, as if it had come
// first, and returns no secret.
func (s *Service) SetPrimaryURL(ctx context.Context, tx *store.Tx, rawURL string) (e Endpoint, secret string, changed bool, err error) {
	if rawURL != "" {
		if err := s.validateURL(rawURL); err != nil {
			return e, "", false, err
		}
	}
	for try := 0; ; try++ {
		var cur Endpoint
		err = scanEndpointInto(&cur, tx.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints
			WHERE is_primary AND deleted_at = 0 ORDER BY id LIMIT 1`))
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return e, "", false, err
		}
		if !exists && rawURL != "" && s.primaryRace != nil {
			s.primaryRace(ctx, tx)
		}
		switch {
		case rawURL == "" && !exists:
			return e, "", false, nil
		case rawURL == "":
			// The platform no longer wants webhooks there: the endpoint goes, as
			// with DeleteEndpoint (its pending deliveries become dead, visible).
			return Endpoint{}, "", true, s.deleteEndpoint(ctx, tx, cur.ID)
		case exists && cur.URL == rawURL:
			return cur, "", false, nil
		case exists:
			// A new URL also re-enables the endpoint: a 410 came from the old one.
			e, err = s.updateEndpoint(ctx, tx, cur.ID, EndpointInput{URL: &rawURL, Enabled: ptr(true)})
		default:
			var raw []byte
			e, raw, err = s.createPrimary(ctx, tx, rawURL)
			if errors.Is(err, errPrimaryTaken) && try == 0 {
				continue // someone else created it meanwhile: use theirs
			}
			if raw != nil {
				secret = string(raw)
			}
		}
		break
	}
	if err != nil {
		return Endpoint{}, "", false, err
	}
	if _, err := s.EnqueueTo(ctx, tx, e.ID, Event{Type: TypeTest}); err != nil {
		return Endpoint{}, "", false, err
	}
	return e, secret, true, nil
}

var errPrimaryTaken = vaspd.Conflict(vaspd.CodeConflict, "the primary webhook endpoint changed concurrently; try again")

// createPrimary creates the primary endpoint, or returns errPrimaryTaken
// when a concurrent transaction has committed one (the unique index refused
// this one). A savepoint keeps the caller's transaction usable then.
func (s *Service) createPrimary(ctx context.Context, tx *store.Tx, rawURL string) (Endpoint, []byte, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT delivery_primary`); err != nil {
		return Endpoint{}, nil, err
	}
	e, secret, err := s.createEndpoint(ctx, tx, EndpointInput{URL: &rawURL, Description: ptr("platform webhookEndpoint")}, true)
	if err != nil {
		if !tx.Driver().IsUniqueViolation(err) {
			return Endpoint{}, nil, err
		}
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT delivery_primary`); rerr != nil {
			return Endpoint{}, nil, rerr
		}
		return Endpoint{}, nil, errPrimaryTaken
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT delivery_primary`); err != nil {
		return Endpoint{}, nil, err
	}
	return e, secret, nil
}

func scanEndpointInto(e *Endpoint, r scanner) error {
	v, err := scanEndpoint(r)
	*e = v
	return err
}

func ptr[T any](v T) *T { return &v }

// ConfigurePrimary is SetPrimaryURL in a transaction of its own, for callers
// that have no state change to commit with it (the management API's
// PATCH /config when nothing else in the config changes).
func (s *Service) ConfigurePrimary(ctx context.Context, rawURL string) (e Endpoint, secret string, changed bool, err error) {
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		e, secret, changed, err = s.SetPrimaryURL(ctx, tx, rawURL)
		return err
	})
	return e, secret, changed, err
}
