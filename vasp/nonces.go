package vasp

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// NonceCache is uma.NonceCache on the database, so that a replayed message
// is refused by every vaspd process sharing it, and after a restart. Nonces
// are scoped by the signer's domain: two VASPs may pick the same nonce.
type NonceCache struct {
	DB *store.DB
	// MaxAge is how far back signatures are accepted; older ones are
	// refused without being stored, and Purge forgets nonces older than it.
	// It must be at least the uma.Verifier's MaxAge (24h by default).
	MaxAge time.Duration
	Now    func() time.Time
}

var _ uma.NonceCache = (*NonceCache)(nil)

func (c *NonceCache) maxAge() time.Duration {
	if c.MaxAge <= 0 {
		return 24 * time.Hour
	}
	return c.MaxAge
}

// CheckAndSave records (domain, nonce), refusing a pair seen before.
func (c *NonceCache) CheckAndSave(ctx context.Context, domain, nonce string, ts time.Time) error {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	if ts.Before(now.Add(-c.maxAge())) {
		return uma.Errorf(uma.CodeInvalidNonce, "signature timestamp is too old")
	}
	if len(domain) > 255 || len(nonce) > 255 {
		return uma.Errorf(uma.CodeInvalidNonce, "nonce or domain too long")
	}
	res, err := c.DB.ExecContext(ctx,
		`INSERT INTO uma_nonces (domain, nonce, signed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		domain, nonce, store.Micros(ts))
	if err != nil {
		return fmt.Errorf("record nonce: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("record nonce: %w", err)
	} else if n == 0 {
		return uma.Errorf(uma.CodeInvalidNonce, "nonce already used")
	}
	return nil
}

// Purge deletes nonces older than MaxAge; they can no longer be replayed
// because their timestamps are refused.
func (c *NonceCache) Purge(ctx context.Context) (int64, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	res, err := c.DB.ExecContext(ctx, `DELETE FROM uma_nonces WHERE signed_at < $1`, store.Micros(now.Add(-c.maxAge())))
	if err != nil {
		return 0, fmt.Errorf("purge nonces: %w", err)
	}
	return res.RowsAffected()
}
