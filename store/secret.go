package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var timeNow = time.Now

// GetOrCreateSecret returns the secret stored under name, generating and
// storing it with gen if there is none yet. Safe when several processes race
// on first start: exactly one generated value wins and all of them return it,
// so keys are never regenerated once stored.
func GetOrCreateSecret(ctx context.Context, db *DB, name string, gen func() ([]byte, error)) ([]byte, error) {
	if v, err := GetSecret(ctx, db, name); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	v, err := gen()
	if err != nil {
		return nil, fmt.Errorf("generate secret %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		name, v, Micros(timeNow())); err != nil {
		return nil, fmt.Errorf("store secret %s: %w", name, err)
	}
	return GetSecret(ctx, db, name)
}

// GetSecret returns the secret stored under name, or ErrNotFound.
func GetSecret(ctx context.Context, q Querier, name string) ([]byte, error) {
	var v []byte
	err := q.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return v, nil
}

// PutSecret stores or replaces a secret (for keys supplied by configuration).
func PutSecret(ctx context.Context, q Querier, name string, value []byte) error {
	_, err := q.ExecContext(ctx,
		`INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
		 ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		name, value, Micros(timeNow()))
	return err
}
