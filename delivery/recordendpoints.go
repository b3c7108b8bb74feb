package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// What a batch of results does to its endpoints: failure streaks and
// back-offs, 410 disabling, and the endpoint locks record takes first.

// goneReason is the disabled_reason of an endpoint that answered 410 Gone.
const goneReason = "410 Gone from the receiver"

type endpointChange struct {
	streak     int64
	changed    bool
	backoff    time.Time
	disable    string
	successful bool
	// reset: a success ended a failure streak (streak_resets moves, so
	// that every process's worker drops its own streak: reconcile).
	reset bool
	// goneURLs are the URLs that answered 410: the endpoint is disabled
	// only if its URL is still one of them, not if the platform pointed it
	// elsewhere while the attempt was in flight.
	goneURLs []string
	disabled bool // committed: this batch disabled the endpoint
	// wasDisabled: a 410 found the endpoint disabled already (by the
	// platform, or an earlier 410) and left it, and its reason, as it was;
	// reason is that reason.
	wasDisabled bool
	reason      string
}

// streakBase is an endpoint's failure streak before a batch, and the gen
// (the row's updated_at and streak_resets) it holds under.
type streakBase struct {
	streak int64
	gen    streakGen
}

// endpointChanges computes, in arrival order, what batch does to its
// endpoints' streaks, back-offs and enablement, from each one's streak
// before it (base).
func (s *Service) endpointChanges(batch []finished, base map[string]streakBase) map[string]*endpointChange {
	eps := map[string]*endpointChange{}
	for _, f := range batch {
		id := f.c.t.id
		ec := eps[id]
		if ec == nil {
			ec = &endpointChange{streak: base[id].streak}
			eps[id] = ec
		}
		switch classify(f.res.status) {
		case outcomeDelivered:
			if ec.streak != 0 {
				ec.changed, ec.reset = true, true
			}
			ec.streak = 0
			ec.backoff = time.Time{}
			ec.successful = true
		case outcomeGone:
			ec.disable = goneReason
			ec.changed = true
			if !slices.Contains(ec.goneURLs, f.c.t.url) {
				ec.goneURLs = append(ec.goneURLs, f.c.t.url)
			}
		default:
			ec.streak++
			ec.changed = true
			// From when the failure was seen, not when the attempt
			// began: after a 10 s timeout a 1 s back-off counted from
			// the start has long run out, and the endpoint would be
			// probed again at once, all timed-out endpoints together.
			until := endpointBackoffUntil(s.opt.Retry, ec.streak, f.res.started.Add(f.res.latency), f.res.retryAfter, s.rnd)
			if until.After(ec.backoff) {
				ec.backoff = until
			}
		}
	}
	return eps
}

// lockEndpoints takes the row locks of endpoints ids (sorted), in that
// order, before record writes any delivery row — on PostgreSQL; SQLite's
// write transactions are exclusive and need no lock order — and returns
// each one's streak and gen (updated_at, streak_resets) as committed.
//
// Every other transaction that writes both tables locks the endpoint first:
// UpdateEndpoint (the endpoint, then, re-enabling it, its waiting
// deliveries), DeleteEndpoint and SetPrimaryURL (the endpoint, then all its
// pending deliveries, leased ones included), Redeliver and replay chunks
// (lockLiveEndpoint, then the re-queued rows), Send (a 410's endpoint, then
// its delivery). record used to update its deliveries first and the
// failure streaks last, so recording a failure while its endpoint was being
// deleted deadlocked: each held a row the other waited for, until
// PostgreSQL aborted one (40P01) after deadlock_timeout and InTx ran it
// again — a second's stall, no loss (TestRecordLocksEndpointsFirst).
//
// The rows are locked in id order by one statement (ORDER BY makes
// PostgreSQL lock them in that order: locking follows the sort in its
// plans), since the order in which one UPDATE … FROM VALUES locks its rows
// is the plan's: two processes recording failures for the same endpoints
// must not take them in opposite orders. Read under the lock, the gens
// tell record whether an endpoint's streak ended (it was re-enabled, or
// delivered to, by any process) since the streak it counts from was known
// (TestReenabledDuringAttemptStreakStartsOver, TestStreakResetElsewhereSeen),
// and the streaks whether another process counted failures meanwhile
// (TestFailureCountsOnStreakCountedElsewhere).
// That costs one statement per batch: a read of its endpoints, which locks
// (writes) only the rows the batch changes (failures, 410s, the first
// success after failures, here or elsewhere).
//
// clean are the endpoints whose results in the batch are all successes
// after a streak of 0 as this worker knows it: nothing to write, unless
// another process counted failures there while these attempts were in
// flight. Those with a streak in the row are read (and locked) with ids, in
// the same statement and id order; the others are neither locked nor
// returned, so a batch of successes where no streak exists writes no
// endpoint row (on PostgreSQL a row lock is a write) and costs one indexed
// read of its few endpoints (TestInFlightSuccessEndsStreakCountedElsewhere).
func lockEndpoints(ctx context.Context, tx *store.Tx, ids, clean []string) (map[string]streakBase, error) {
	out := make(map[string]streakBase, len(ids))
	if len(ids) == 0 && len(clean) == 0 {
		return out, nil
	}
	lock := ""
	if tx.Driver().Name() == "postgres" {
		// FOR NO KEY UPDATE is the lock the UPDATEs take anyway. It takes
		// only the rows the WHERE keeps, rechecked under the lock.
		lock = " FOR NO KEY UPDATE"
	}
	var where []string
	if len(ids) > 0 {
		where = append(where, `id IN (`+store.Placeholders(1, len(ids))+`)`)
	}
	if len(clean) > 0 {
		where = append(where, `(id IN (`+store.Placeholders(len(ids)+1, len(clean))+`) AND failure_streak > 0)`)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, failure_streak, updated_at, streak_resets FROM webhook_endpoints WHERE `+
		strings.Join(where, " OR ")+` ORDER BY id`+lock, anys(append(slices.Clip(ids), clean...))...)
	if err != nil {
		return nil, fmt.Errorf("lock endpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var b streakBase
		if err := rows.Scan(&id, &b.streak, &b.gen.updated, &b.gen.resets); err != nil {
			return nil, fmt.Errorf("lock endpoints: %w", err)
		}
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock endpoints: %w", err)
	}
	return out, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// disableGoneURL disables endpoint id for a 410 Gone from url, in tx, and
// reports whether it did: only if the endpoint still has that URL (not if
// the platform pointed it elsewhere while the attempt was in flight) and is
// still enabled (an operator's reason for disabling it stays).
func disableGoneURL(ctx context.Context, tx *store.Tx, id, url string, us int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, updated_at = $3
		WHERE id = $1 AND url = $4 AND enabled`, id, goneReason, us, url)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// disableGone disables endpoint id, in tx, if a result in the batch was a
// 410 from the URL it still has, and records in ec what happened. Only an
// enabled endpoint is disabled: one the platform disabled while the attempt
// was in flight keeps its reason ("disabled by an operator"), which is what
// a re-enabling operator must see. When nothing was disabled, one more read
// (410s only) tells the delivery's log why: disabled already, or the 410
// came from a URL the endpoint no longer has.
func disableGone(ctx context.Context, tx *store.Tx, s *Service, id string, ec *endpointChange, us int64) error {
	ec.disabled, ec.wasDisabled, ec.reason = false, false, ""
	if ec.disable == "" {
		return nil
	}
	s.endpointsChanged() // before the write, as updateEndpoint does
	for _, u := range ec.goneURLs {
		disabled, err := disableGoneURL(ctx, tx, id, u, us)
		if err != nil {
			return err
		}
		if disabled {
			ec.disabled = true
			return nil
		}
	}
	var enabled bool
	err := tx.QueryRowContext(ctx, `SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1`, id).
		Scan(&enabled, &ec.reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // cannot be (endpoints are deleted softly); nothing to say
	}
	if err != nil {
		return err
	}
	ec.wasDisabled = !enabled
	return nil
}

// updateStreaks writes the failure streak and back-off of the endpoints in
// ids, many rows per statement, and counts in streak_resets the streaks a
// success ended (endpointChange.reset), which every process's worker reads
// as the end of the streak it holds (reconcile).
func updateStreaks(ctx context.Context, tx *store.Tx, ids []string, eps map[string]*endpointChange) error {
	pg := tx.Driver().Name() == "postgres"
	for start := 0; start < len(ids); start += 200 {
		end := min(start+200, len(ids))
		p := newParams(tx.Driver())
		var b strings.Builder
		// A back-off of 0 (a success ended it) is written as it is; any
		// other only if it is later than the row's. The row may hold a
		// longer one, set by an answer this batch did not see: a receiver's
		// Retry-After recorded in an earlier batch, by a synchronous send or
		// by another process. A failure recorded after it, with the short
		// back-off of its streak, would otherwise end that wait early.
		b.WriteString(`UPDATE webhook_endpoints SET failure_streak = v.column2,
			streak_resets = webhook_endpoints.streak_resets + v.column4,
			backoff_until = CASE WHEN v.column3 = 0 OR webhook_endpoints.backoff_until < v.column3
				THEN v.column3 ELSE webhook_endpoints.backoff_until END FROM (VALUES `)
		args := make([]any, 0, 4*(end-start))
		for i, id := range ids[start:end] {
			if i > 0 {
				b.WriteString(", ")
			}
			if pg {
				b.WriteString("(CAST(" + p.next() + " AS TEXT), CAST(" + p.next() + " AS BIGINT), CAST(" + p.next() +
					" AS BIGINT), CAST(" + p.next() + " AS BIGINT))")
			} else {
				b.WriteString("(" + p.list(4) + ")")
			}
			ec := eps[id]
			args = append(args, id, ec.streak, store.Micros(ec.backoff), ec.resets())
		}
		b.WriteString(`) AS v WHERE webhook_endpoints.id = v.column1`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("update endpoint streaks: %w", err)
		}
	}
	return nil
}

// resets is how much the batch adds to the endpoint's streak_resets.
func (ec *endpointChange) resets() int64 {
	if ec.reset {
		return 1
	}
	return 0
}
