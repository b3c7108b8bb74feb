package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/vaspd/vaspd/store"
)

// claimDepth is how many concurrency windows of deliveries one claim takes
// for an endpoint that is not failing, until its latency is known: the
// extra rows wait in memory, under the same lease, and start as attempts
// finish, so one claim feeds many attempts.
const claimDepth = 4

// claimAhead is how much work, at an endpoint's measured latency and
// window, one claim takes for it (at most ClaimBatch rows). A fast endpoint
// thus gets a deep batch, so it keeps sending while the next claim waits for
// the database (on SQLite behind other writers); a slow one gets about a
// window's worth, so claimed rows do not wait long under their lease.
const claimAhead = 250 * time.Millisecond

// maxClaimEndpoints bounds how many endpoints one claim serves (one UPDATE
// each, in one transaction). When a hundred endpoints come due together —
// say, timing-out ones whose back-off ended — the claim that probes them
// would otherwise hold the worker (and, on SQLite, the writer) long enough
// to delay a healthy endpoint's next claim; served healthy first, 32 at a
// time, the others follow in the next claims right away.
const maxClaimEndpoints = 32

// claimRows is how many rows endpoint t should hold (in flight plus queued)
// after a claim. Called with w.mu held.
func (w *worker) claimRows(id string, limit int) int {
	d := claimDepth * limit
	if l := w.lat[id]; l > 0 {
		ahead := min(claimAhead, w.s.opt.LeaseMargin/4)
		d = int(int64(limit) * int64(ahead) / int64(l))
	}
	return max(limit, min(d, w.s.opt.ClaimBatch))
}

// reconcile sets the streak of t, just read, and this worker's, to the
// larger of the two: the row may have been read before a failure recorded
// here committed, or hold failures another process counted. But only while
// the endpoint's streak is of the generation it was when this worker's was
// known (target.gen): an end of it since, by any process — re-enabling the endpoint, or a success
// after failures (streak_resets; updated_at does not move for one) — makes
// the row's the streak, and the worker forgets its own. (It kept its own,
// higher, streak over another process's success: it probed the recovered
// endpoint one attempt at a time, took no handoffs for it, and wrote the
// next failure's streak, and back-off, on top of its old one.) A failure
// recorded here during that end may go uncounted: one fewer, a shorter
// back-off, nothing lost. Called with w.mu held, for every endpoint
// reading (claimFor, refreshReadings).
func (w *worker) reconcile(t *target) {
	if st, ok := w.streak[t.id]; ok {
		if g, known := w.gens[t.id]; known && g == t.gen {
			// Kept here too: the row's may be larger, counted by another
			// process, and this worker's next success must end it (record
			// writes a streak only when it changes what the worker knew).
			t.streak = max(t.streak, st)
			w.streak[t.id] = t.streak
		} else {
			delete(w.streak, t.id)
		}
	}
	w.gens[t.id] = t.gen
}

// claim leases due deliveries for every endpoint that has room and starts
// their attempts. full reports that some endpoint or the process is at its
// concurrency limit, so the next claim should wait for a slot.
//
// Room is shared fairly: each endpoint that has work gets at most
// MaxInFlight / (endpoints with work) attempts in flight, and within that its
// slow-start window (see window), healthy endpoints served first. So
// endpoints that time out can never take the room a healthy one needs.
func (w *worker) claim(ctx context.Context) (n int, full bool, err error) { return w.claimFor(ctx, "") }

// claimFor is claim for endpoint only, or for every endpoint if only is "".
func (w *worker) claimFor(ctx context.Context, only string) (n int, full bool, err error) {
	s := w.s
	now := s.opt.Clock.Now()
	us := store.Micros(now)
	// Before the read: a change during it makes the reading stale, and its
	// age counts from its start.
	gen, read := s.epGen.Load(), time.Now()
	targets, err := s.dueEndpoints(ctx, us, only)
	if err != nil {
		return 0, false, err
	}
	if len(targets) == 0 {
		return 0, false, nil
	}
	w.mu.Lock()
	active := len(w.busy)
	for _, t := range targets {
		w.reconcile(t)
		if w.busy[t.id] == 0 {
			active++
		}
	}
	w.remember(targets, gen, read)
	share := max(1, s.opt.MaxInFlight/max(1, active))
	if only != "" {
		// Endpoints not looked at may have work too: never more than the
		// share the last full claim found.
		share = min(share, w.share)
	}
	w.share = share
	// Healthy endpoints (no failure streak, widest window) first.
	sort.SliceStable(targets, func(i, j int) bool {
		a, b := targets[i], targets[j]
		if (a.streak == 0) != (b.streak == 0) {
			return a.streak == 0
		}
		return s.window(a.id) > s.window(b.id)
	})
	want := map[string]int{}
	capped := false
	w.more = false
	if only == "" {
		w.starved = false // a claim for one endpoint does not see the others' waits
	}
	room := s.opt.MaxInFlight - w.total
	for _, t := range targets {
		if w.failing[t.id] > 0 {
			// It just failed here and its back-off is not committed yet:
			// a claim now would probe it again at once (after a timeout
			// storm, a hundred endpoints in several claim transactions
			// that the healthy ones wait behind). Recording that failure
			// sets the back-off; the claims after it see it.
			continue
		}
		win := s.window(t.id)
		if t.streak > 0 {
			win = 1 // a failing endpoint is probed one attempt at a time
		}
		limit := min(win, w.share)
		busy, queued := w.busy[t.id], len(w.queue[t.id])
		slots := limit - busy - queued // attempts that could start now
		f := 0
		if slots > 0 && room > 0 {
			f = min(slots, room)
			room -= f
		}
		if t.streak == 0 && room > 0 {
			// Not failing: a deeper batch, started as the window allows,
			// topped up once half of it is used (run asks for a claim
			// then), before the queue runs dry.
			d := w.claimRows(t.id, limit)
			w.depth[t.id] = d
			if queued < d/2 {
				f = max(f, d-busy-queued)
			}
		}
		if f <= 0 {
			// Due work waits for a slot: the attempt that frees one must
			// trigger a claim (see run).
			w.drained[t.id] = false
			if room <= 0 {
				w.starved = true
			}
			full = true
			continue
		}
		if len(want) >= maxClaimEndpoints {
			// The rest next time round, right after this claim (more).
			w.drained[t.id] = false
			capped = true
			continue
		}
		want[t.id] = min(f, s.opt.ClaimBatch)
	}
	w.mu.Unlock()
	if len(want) == 0 {
		return 0, true, nil
	}

	token := newToken()
	traced := s.opt.Tracer != nil
	var got, expired []claimed
	per := map[string]int{} // endpoint id → rows claimed, expired ones included
	if s.claimTx != nil {
		s.claimTx(only)
	}
	err = s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		got, expired = got[:0], expired[:0]
		clear(per)
		for _, t := range targets {
			f := want[t.id]
			if f == 0 {
				continue
			}
			// Lease: the rows stop being due until the endpoint's timeout
			// plus the margin has passed.
			leaseEnd := now.Add(t.timeout + s.opt.LeaseMargin)
			rows, err := tx.QueryContext(ctx, claimQuery(tx.Driver(), traced), t.id, us, f, store.Micros(leaseEnd), token)
			if err != nil {
				return err
			}
			from := len(got)
			for rows.Next() {
				c := claimed{token: token, t: t, leaseEnd: leaseEnd, gen: gen}
				var first int64
				var by sql.NullString
				dest := []any{&c.id, &c.eventID, &c.attempts, &first, &c.body}
				if traced {
					dest = append(dest, &by)
				}
				if err := rows.Scan(dest...); err != nil {
					rows.Close()
					return err
				}
				c.enqueuedBy = by.String
				if c.body == nil {
					rows.Close()
					return errors.New("delivery " + c.id + ": its event " + c.eventID + " is missing")
				}
				c.first = store.Time(first)
				per[t.id]++
				if s.windowEnded(c.first, now) {
					// Due, but its retry window has ended (its endpoint
					// was backed off, or no process ran, past it): no
					// attempt, it is dead-lettered below.
					expired = append(expired, c)
					continue
				}
				got = append(got, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			// Oldest first (ids are time-ordered); RETURNING has no order.
			part := got[from:]
			sort.Slice(part, func(i, j int) bool { return part[i].id < part[j].id })
		}
		return s.expireIn(ctx, tx, expired, us)
	})
	if err != nil {
		return 0, false, fmt.Errorf("claim: %w", err)
	}
	for _, c := range expired {
		s.opt.Log.Warn("webhook dead-lettered: its retry window ended before its next attempt",
			"delivery", c.id, "endpoint", c.t.id, "attempts", c.attempts)
		s.m.outcome(labelDead)
	}
	w.mu.Lock()
	for _, c := range got {
		w.queue[c.t.id] = append(w.queue[c.t.id], c)
	}
	for id, f := range want {
		// An endpoint whose due rows ran out is not claimed for again as
		// its attempts finish, only when woken (new work) or polled.
		w.drained[id] = per[id] < f
		if !w.drained[id] {
			w.more = true
		}
		w.pump(id)
		if len(w.queue[id]) > 0 || w.busy[id] >= w.limit(id) {
			full = true
		}
	}
	if w.total >= s.opt.MaxInFlight {
		full = true
	}
	if capped {
		w.more, full = true, false
	}
	w.mu.Unlock()
	return len(got), full, nil
}

// claimQuery leases up to $3 due deliveries of endpoint $1 at time $2 until
// $4 under token $5, and returns them with their bodies and, when traced,
// their events' trace_parent (a second lookup of the event row, which the
// first has just read: an untraced process's claim is as it was). The lease moves
// next_attempt_at to its end, so leased rows leave the due range of the
// queue index: the next claim and dueEndpoints never step over them. (A
// lease column outside the index, tried in round 4 of
// docs/webhook-engine-benchmarks.md, saved that index update but made
// dueEndpoints step over every leased row: 6.5 ms instead of 0.12 ms with
// 32 busy endpoints, BenchmarkDueEndpointsBusy.)
func claimQuery(d store.Driver, traced bool) string {
	q := `UPDATE webhook_deliveries SET next_attempt_at = $4, lease_token = $5, updated_at = $2
		WHERE id IN (SELECT id FROM webhook_deliveries
			WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
			ORDER BY next_attempt_at LIMIT $3 ` + d.SkipLocked() + `)
		RETURNING id, event_id, attempts, first_attempt_at,
			(SELECT payload FROM webhook_events e WHERE e.id = webhook_deliveries.event_id)`
	if traced {
		q += `,
			(SELECT trace_parent FROM webhook_events e WHERE e.id = webhook_deliveries.event_id)`
	}
	return q
}

const dueEndpointsQuery = `SELECT e.id, e.url, e.timeout_ms, e.secret, e.prev_secret, e.prev_secret_until,
		e.sign_ed25519, e.failure_streak, e.updated_at, e.streak_resets
	FROM webhook_endpoints e
	WHERE e.enabled AND e.deleted_at = 0 AND e.backoff_until <= $1
	  AND (SELECT 1 FROM webhook_deliveries d
	       WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= $1
	         ORDER BY d.next_attempt_at LIMIT 1) IS NOT NULL`

const dueEndpointsOneQuery = dueEndpointsQuery + ` AND e.id = $2`

// dueEndpoints lists enabled endpoints, not backed off, that have due
// deliveries; only endpoint only if it is not "". It runs before every
// claim; the store's statement cache (SQLite) or pgx's (PostgreSQL) keeps
// both forms prepared.
//
// The due-row test is an ordered scalar subquery with LIMIT 1, not EXISTS:
// PostgreSQL turns EXISTS into a semi-join, and with a young table's
// statistics (a fresh database, before autovacuum's first ANALYZE) its
// generic plan scanned every due row of every endpoint for each endpoint —
// 15–110 ms per claim beside a hundred backlogged endpoints. The subquery
// cannot be pulled up, and its ORDER BY makes the queue index, looked up by
// endpoint, the plan's only cheap path (TestQueuePlansUseTheQueueIndex).
func (s *Service) dueEndpoints(ctx context.Context, us int64, only string) ([]*target, error) {
	q, args := dueEndpointsQuery, []any{us}
	if only != "" {
		q, args = dueEndpointsOneQuery, []any{us, only}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*target
	for rows.Next() {
		t, err := s.scanTarget(rows, us)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func (s *Service) scanTarget(r scanner, nowUS int64) (*target, error) {
	t := target{sig: &signerCache{}}
	var timeoutMS, prevUntil int64
	var secret, prev []byte
	if err := r.Scan(&t.id, &t.url, &timeoutMS, &secret, &prev, &prevUntil, &t.ed25519, &t.streak, &t.gen.updated,
		&t.gen.resets); err != nil {
		return nil, err
	}
	t.timeout = s.opt.AttemptTimeout
	if timeoutMS > 0 {
		// Bounded at use, not only when set: a row may hold a timeout
		// from before the floor existed (an earlier vaspd took 1 ms), or
		// from under other bounds. Such an endpoint gets the floor rather
		// than an attempt that always times out, retried for days; its
		// timeoutMs shows what was stored, and a PATCH sets a valid one.
		t.timeout = min(max(time.Duration(timeoutMS)*time.Millisecond, s.opt.MinAttemptTimeout), s.opt.MaxAttemptTimeout)
	}
	t.secret = string(secret)
	if len(prev) > 0 && prevUntil > nowUS {
		t.prev, t.prevUntil = string(prev), store.Time(prevUntil)
	}
	return &t, nil
}
