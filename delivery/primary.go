// The primary endpoint: UMAaaS's platform config webhookEndpoint.

package delivery

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

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
// enqueues a TEST webhook to it. An empty url deletes the primary endpoint,
// returned as it was (changed true), so the caller can say which went.
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
			if err := s.deleteEndpoint(ctx, tx, cur.ID); err != nil {
				return Endpoint{}, "", false, err
			}
			return cur, "", true, nil
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
