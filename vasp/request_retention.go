package vasp

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
)

// DefaultUmaRequestRetention is Options.UmaRequestRetention's default: 30
// days after a request's expiry, long after anyone could pay it (its
// quotes expire with it), long enough for a platform to show its users
// what they were asked.
const DefaultUmaRequestRetention = 30 * 24 * time.Hour

// purgeUmaRequestsQuery deletes up to $2 UMA requests that expired before
// $1 and have no payment in flight (a PROCESSING quote: the request stays
// PROCESSING until it ends). It walks requests by expiry
// (uma_requests_expiry, migration 0625) and asks, for each, whether a
// quote paying it is in flight (uma_quotes_uma_request), so a purge reads
// what it deletes (TestPurgeUmaRequestsUsesIndexes).
const purgeUmaRequestsQuery = `DELETE FROM uma_requests WHERE id IN (SELECT r.id FROM uma_requests r
	WHERE r.expires_at < $1 AND NOT EXISTS (SELECT 1 FROM uma_quotes q WHERE q.uma_request_id = r.id
		AND q.status = '` + QuoteProcessing + `') LIMIT $2)`

// PurgeUmaRequests deletes the UMA requests that expired longer than
// Options.UmaRequestRetention ago, paid or not, and returns how many. Only
// expired ones go, whatever their age: a request's row is what makes a
// repeat of its invoice answer the request kept (and be paid once), and an
// expired invoice is refused when received again, so deleting it cannot
// make it payable anew. A deleted request is 404 UMA_REQUEST_NOT_FOUND, as
// one never received; the quotes and the transaction that paid it stay.
func (s *Service) PurgeUmaRequests(ctx context.Context) (int64, error) {
	before := store.Micros(s.clock.Now().Add(-s.opt.UmaRequestRetention))
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, purgeUmaRequestsQuery, before, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("purge UMA requests: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge UMA requests: %w", err)
		}
		total += n
		if n < purgeBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
