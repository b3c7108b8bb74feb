package vasp

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
)

// DefaultLookupRetention is Options.LookupRetention's default: a week, far
// longer than a lookup is used (its quote follows within minutes), short
// enough that lookups made on every keystroke do not pile up for good.
const DefaultLookupRetention = 7 * 24 * time.Hour

// purgeBatch bounds the lookups one statement deletes: a backlog of
// millions (a first purge, a retention shortened) goes in many short
// transactions, none holding SQLite's writer for long.
const purgeBatch = 1000

// purgeLookupsQuery deletes up to $2 lookups made before $1 that no quote
// names: it walks lookups by age (uma_lookups_created) and asks, for each,
// whether a quote names it (uma_quotes_lookup), so a purge reads what it
// deletes, not every lookup or quote (TestPurgeLookupsUsesIndexes).
const purgeLookupsQuery = `DELETE FROM uma_lookups WHERE id IN (SELECT l.id FROM uma_lookups l
	WHERE l.created_at < $1 AND NOT EXISTS (SELECT 1 FROM uma_quotes q WHERE q.lookup_id = l.id) LIMIT $2)`

// PurgeLookups deletes the lookups older than Options.LookupRetention that
// no quote was made from, and returns how many. A quote's lookup is kept
// as long as the quote: its refreshes send the payreq again from it. A
// lookup deleted is as one never made: a quote asked of it is 404
// LOOKUP_REQUEST_NOT_FOUND, and the platform looks the receiver up again
// (which also gets it the receiver's current terms).
func (s *Service) PurgeLookups(ctx context.Context) (int64, error) {
	before := store.Micros(s.clock.Now().Add(-s.opt.LookupRetention))
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, purgeLookupsQuery, before, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("purge lookups: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge lookups: %w", err)
		}
		total += n
		if n < purgeBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
