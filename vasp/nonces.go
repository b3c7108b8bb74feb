package vasp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	// Stored as text: PostgreSQL refuses bytes that are not UTF-8, and
	// NUL, and a nonce in an lnurlp query may be any bytes ("%FF", "%00").
	if len(domain) > 255 || len(nonce) > 255 || !utf8.ValidString(domain) || !utf8.ValidString(nonce) ||
		strings.ContainsRune(nonce, 0) || strings.ContainsRune(domain, 0) {
		return uma.Errorf(uma.CodeInvalidNonce, "nonce or domain too long, not UTF-8 or with a NUL")
	}
	if b, ok := ctx.Value(nonceBatchKey{}).(*nonceBatch); ok {
		// Deferred: a nonce stored already is refused now, so that a
		// replay fails first with INVALID_NONCE as it always did (a
		// replayed message must not reach the checks of its content);
		// the insert in the caller's transaction is the check that also
		// holds for concurrent copies (see deferNonces).
		var one int
		err := c.DB.QueryRowContext(ctx, `SELECT 1 FROM uma_nonces WHERE domain = $1 AND nonce = $2`, domain, nonce).Scan(&one)
		switch {
		case err == nil:
			return uma.Errorf(uma.CodeInvalidNonce, "nonce already used")
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("check nonce: %w", err)
		}
		b.add(pendingNonce{domain: domain, nonce: nonce, signedAt: ts})
		return nil
	}
	return c.save(ctx, c.DB, domain, nonce, ts)
}

// save inserts one nonce with q, refusing it if it is stored already.
func (c *NonceCache) save(ctx context.Context, q store.Querier, domain, nonce string, ts time.Time) error {
	res, err := q.ExecContext(ctx,
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

// nonceBatchKey marks a context under which CheckAndSave defers the insert
// of accepted nonces to the caller's transaction (deferNonces).
type nonceBatchKey struct{}

type pendingNonce struct {
	domain, nonce string
	signedAt      time.Time
}

// nonceBatch collects the nonces accepted under one deferNonces context.
type nonceBatch struct {
	mu   sync.Mutex
	list []pendingNonce
}

func (b *nonceBatch) add(n pendingNonce) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list = append(b.list, n)
}

// deferNonces returns a context under which the NonceCache refuses nonces
// stored already but collects new ones instead of storing them; the caller
// must then store them with saveDeferred in the transaction that records
// what the signed message caused, and act on the message outside the
// database only once that transaction has committed. That saves a commit
// per message, and a message whose effects are rolled back leaves its
// nonce unused, so the sender may retry it. Copies of one message sent at
// once all pass the first check; the unique key lets only one transaction
// store the nonce, and the others fail with INVALID_NONCE there, having
// stored nothing.
func deferNonces(ctx context.Context) (context.Context, *nonceBatch) {
	b := &nonceBatch{}
	return context.WithValue(ctx, nonceBatchKey{}, b), b
}

// saveDeferred stores the nonces collected in b with q (a transaction).
func (c *NonceCache) saveDeferred(ctx context.Context, q store.Querier, b *nonceBatch) error {
	b.mu.Lock()
	list := append([]pendingNonce(nil), b.list...)
	b.mu.Unlock()
	for _, n := range list {
		if err := c.save(ctx, q, n.domain, n.nonce, n.signedAt); err != nil {
			return err
		}
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
