package delivery

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vaspd/vaspd/store"
)

// claimed is one delivery this process holds a lease on.
type claimed struct {
	id       string
	eventID  string
	token    string
	attempts int64
	first    time.Time // zero until the first attempt
	leaseEnd time.Time // no attempt may start that could outlive the lease
	body     []byte
	t        *target
	// enqueuedBy: the traceparent stored with the event, which the
	// attempt's span links to (tracing.go); read only when tracing.
	enqueuedBy string
}

type finished struct {
	c   claimed
	res attemptResult
	// release: the endpoint's other claimed, unstarted deliveries, handed
	// back in the transaction that records this failure (so a hundred
	// endpoints failing at once cost one transaction, not a hundred).
	release []claimed
}

// worker is the state of one Run call.
type worker struct {
	s       *Service
	mu      sync.Mutex
	busy    map[string]int           // endpoint id → attempts in flight here
	queue   map[string][]claimed     // endpoint id → claimed, not yet started
	streak  map[string]int64         // endpoint id → consecutive failures, as last known here
	share   int                      // fair share of MaxInFlight per active endpoint, from the last claim
	lat     map[string]time.Duration // endpoint id → moving average of its successful attempts' latency
	depth   map[string]int           // endpoint id → how many rows the last claim aimed to hold
	drained map[string]bool          // endpoint id → the last claim got fewer rows than it asked for
	failing map[string]int           // endpoint id → failed attempts not yet recorded (no claims for it until they are)
	starved bool                     // the last claim left due work unclaimed for lack of MaxInFlight room
	more    bool                     // the last claim got all it asked for from some endpoint: more may be due
	seen    map[string]reading       // endpoint id → what the last claim read about it (handoff.go)
	stopped bool                     // Run is stopping: no more handoffs are queued
	token   string                   // lease token of handed-off rows
	total   int
	freed   chan struct{}
	results chan finished
	wg      sync.WaitGroup
}

func newWorker(s *Service) *worker {
	return &worker{
		s:       s,
		busy:    map[string]int{},
		queue:   map[string][]claimed{},
		streak:  map[string]int64{},
		lat:     map[string]time.Duration{},
		depth:   map[string]int{},
		drained: map[string]bool{},
		failing: map[string]int{},
		seen:    map[string]reading{},
		token:   newToken(),
		share:   s.opt.MaxInFlight,
		freed:   make(chan struct{}, 1),
		results: make(chan finished, s.opt.MaxInFlight),
	}
}

// Run delivers due webhooks until ctx is cancelled. It then stops claiming,
// lets attempts in flight finish (each is bounded by its timeout), records
// their results and returns nil. Deliveries it had claimed but not started
// are handed back; any it had claimed but not finished (after a crash) are
// retried by any process once their lease ends.
// Run also prunes old deliveries, runs replay jobs (one it holds when ctx
// ends is handed back, see releaseJob) and refreshes metrics.
func (s *Service) Run(ctx context.Context) error {
	w := newWorker(s)
	// Enqueues hand their rows to this worker (handoff.go). Should Run be
	// called twice at once on one Service, the second gets no handoffs.
	if s.running.CompareAndSwap(nil, w) {
		defer s.running.CompareAndSwap(w, nil)
	}
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		w.complete()
	}()
	maintDone := make(chan struct{})
	go func() {
		defer close(maintDone)
		s.maintain(ctx)
	}()
	fanOutDone := make(chan struct{})
	go func() {
		defer close(fanOutDone)
		s.fanOut(ctx)
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastAll time.Time // last claim that looked at every endpoint
	for {
		woken := false
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-s.wake:
			woken = true
		case <-w.freed:
		}
		if ctx.Err() != nil {
			break
		}
		// Woken by new deliveries for one endpoint only: claim for it
		// alone, unless the poll interval has passed since every endpoint
		// was looked at (other processes' work, retries falling due).
		var only string
		ids, all := s.takeWake()
		if woken && !all && len(ids) == 1 && time.Since(lastAll) < s.opt.PollInterval {
			only = ids[0]
		} else {
			lastAll = time.Now()
		}
		_, full, err := w.claimFor(ctx, only)
		if err != nil && ctx.Err() == nil {
			s.opt.Log.Warn("webhook claim failed", "err", err)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		switch {
		case err != nil:
			timer.Reset(s.opt.PollInterval)
		case !full && w.more:
			timer.Reset(0) // there may be more due work and room for it
		default:
			timer.Reset(s.opt.PollInterval)
		}
	}
	w.release(w.stop())
	w.wg.Wait()
	close(w.results)
	<-completerDone
	<-maintDone
	<-fanOutDone
	return nil
}

// stop makes the worker take no more handoffs (a late one hands its rows
// back, see accept) and returns its claimed, unstarted rows.
func (w *worker) stop() []claimed {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	var unstarted []claimed
	for id, q := range w.queue {
		unstarted = append(unstarted, q...)
		delete(w.queue, id)
	}
	return unstarted
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

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
		if st, ok := w.streak[t.id]; ok {
			t.streak = max(t.streak, st)
		}
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
				c := claimed{token: token, t: t, leaseEnd: leaseEnd}
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
		s.m.outcome(StatusDead)
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

// limit is how many attempts endpoint id may have in flight here now.
// Called with w.mu held.
func (w *worker) limit(id string) int {
	win := w.s.window(id)
	if w.streak[id] > 0 {
		win = 1
	}
	return min(win, w.share)
}

// pump starts queued attempts for endpoint id while it has room. A queued
// delivery whose lease no longer covers a whole attempt is handed back
// instead, so no other process can claim it while it is being attempted.
// Called with w.mu held.
func (w *worker) pump(id string) {
	q := w.queue[id]
	var stale []claimed
	limit := w.limit(id)
	for len(q) > 0 && w.busy[id] < limit && w.total < w.s.opt.MaxInFlight {
		c := q[0]
		q = q[1:]
		now := w.s.opt.Clock.Now()
		if now.Add(c.t.timeout+w.s.opt.LeaseMargin/2).After(c.leaseEnd) || w.s.windowEnded(c.first, now) {
			// Stale, or its retry window ended while it waited here: no
			// attempt may start after it (the next claim dead-letters it).
			stale = append(stale, c)
			continue
		}
		w.busy[id]++
		w.total++
		w.wg.Add(1)
		go w.run(c)
	}
	if len(q) == 0 {
		delete(w.queue, id)
	} else {
		w.queue[id] = q
	}
	if len(stale) > 0 {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.release(stale)
		}()
	}
}

// run makes one attempt. Shutting down does not cut it short: it is bounded
// by its own timeout, and its result is recorded before Run returns.
func (w *worker) run(c claimed) {
	defer w.wg.Done()
	s := w.s
	// A trace of its own (context.Background), linked to the span that
	// enqueued the event, if any (tracing.go).
	res := s.tracedAttempt(context.Background(), *c.t, attemptSpan{deliveryID: c.id, webhookID: c.eventID, number: c.attempts + 1,
		enqueuedBy: c.enqueuedBy}, c.body, MaxLoggedBody)
	id := c.t.id
	var dropped []claimed
	w.mu.Lock()
	w.busy[id]--
	if w.busy[id] <= 0 {
		delete(w.busy, id)
	}
	w.total--
	if classify(res.status) == outcomeDelivered {
		s.grow(id)
		if l, ok := w.lat[id]; ok {
			w.lat[id] = l - l/8 + res.latency/8
		} else {
			w.lat[id] = max(res.latency, time.Microsecond)
		}
		w.pump(id)
	} else {
		// The endpoint is failing: back to one attempt at a time, and hand
		// its other claimed deliveries back; they wait for its back-off.
		s.shrink(id)
		w.failing[id]++
		dropped = w.queue[id]
		delete(w.queue, id)
	}
	// Claim more before the queue runs dry (a claim may wait for the
	// database), unless the last claim found no more due rows.
	refill := w.starved || (!w.drained[id] && len(w.queue[id]) < max(w.limit(id), w.depth[id]/2))
	w.mu.Unlock()
	w.results <- finished{c: c, res: res, release: dropped}
	if refill {
		select {
		case w.freed <- struct{}{}:
		default:
		}
	}
}

// releaseTimeout bounds one hand-back of claimed deliveries (release,
// releaseNow): past it, their lease ends on its own.
const releaseTimeout = 5 * time.Second

// release hands claimed deliveries that were never attempted back: due now,
// without a lease, in a transaction of its own. If it fails, their lease
// ends on its own.
func (w *worker) release(cs []claimed) {
	w.giveBack(cs, func(ctx context.Context, us int64) error {
		return w.s.db.InBackgroundTx(ctx, func(tx *store.Tx) error { return releaseIn(ctx, tx, cs, us) })
	})
}

// releaseNow is release for a caller that may hold the store's write lock
// (AfterCommit, on SQLite: accept), where InTx would wait for that lock
// forever. It runs releaseIn's statements on their own, outside a
// transaction: each is one guarded UPDATE that stands alone (a row whose
// lease was taken over is left alone), and with the write lock held by the
// caller no other writer of this process competes with them.
func (w *worker) releaseNow(cs []claimed) {
	w.giveBack(cs, func(ctx context.Context, us int64) error { return releaseIn(ctx, w.s.db, cs, us) })
}

// giveBack runs hand, which hands cs back at us, within releaseTimeout, and
// logs its failure.
func (w *worker) giveBack(cs []claimed, hand func(ctx context.Context, us int64) error) {
	if len(cs) == 0 {
		return
	}
	s := w.s
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if s.releaseTx != nil {
		s.releaseTx()
	}
	if err := hand(ctx, store.Micros(s.opt.Clock.Now())); err != nil {
		s.opt.Log.Warn("handing back claimed webhooks failed; their lease will end", "n", len(cs), "err", err)
	}
}

// windowEnded reports whether a delivery first attempted at first (zero:
// never attempted, no window yet) may no longer be attempted at now: its
// retry window has ended. An attempt may start at the window's very end,
// not after it; RetryPolicy.next uses the same bound for the retries it
// schedules.
func (s *Service) windowEnded(first, now time.Time) bool {
	return !first.IsZero() && now.After(first.Add(s.opt.Retry.Window))
}

// expireIn dead-letters claimed deliveries whose retry window has ended, in
// the claim's transaction, instead of attempting them. Their last error is
// kept after a note saying why they stopped; like every dead delivery they
// stay in the log and can be redelivered or replayed.
func (s *Service) expireIn(ctx context.Context, tx *store.Tx, cs []claimed, us int64) error {
	if len(cs) == 0 {
		return nil
	}
	note := fmt.Sprintf("retry window (%s after the first attempt) ended before the next attempt; last error: ", s.opt.Retry.Window)
	for start := 0; start < len(cs); start += 500 {
		end := min(start+500, len(cs))
		p := newParams(tx.Driver())
		q := `UPDATE webhook_deliveries SET status = 'dead', lease_token = '', finished_at = ` + p.next() + `, updated_at = ` + p.next() + `,
				last_error = CAST(` + p.next() + ` AS TEXT) || last_error
			WHERE lease_token = ` + p.next() + ` AND status = 'pending' AND id IN (` + p.list(end-start) + `)`
		args := []any{us, us, note, cs[start].token}
		for _, c := range cs[start:end] {
			args = append(args, c.id)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("dead-letter deliveries past their window: %w", err)
		}
	}
	return nil
}

// releaseIn makes claimed deliveries due at us and unleased, in tx (or on
// the DB, statement by statement: releaseNow), many rows per statement
// (rows of one claim share its lease token). A row whose lease has
// meanwhile been taken over is left alone.
func releaseIn(ctx context.Context, tx store.Querier, cs []claimed, us int64) error {
	byToken := map[string][]any{}
	var tokens []string
	for _, c := range cs {
		if _, ok := byToken[c.token]; !ok {
			tokens = append(tokens, c.token)
		}
		byToken[c.token] = append(byToken[c.token], c.id)
	}
	for _, tok := range tokens {
		ids := byToken[tok]
		for start := 0; start < len(ids); start += 500 {
			end := min(start+500, len(ids))
			p := newParams(tx.Driver())
			q := `UPDATE webhook_deliveries SET next_attempt_at = ` + p.next() + `, lease_token = '', updated_at = ` + p.next() + `
				WHERE lease_token = ` + p.next() + ` AND status = 'pending' AND id IN (` + p.list(end-start) + `)`
			args := append([]any{us, us, tok}, ids[start:end]...)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("release claimed deliveries: %w", err)
			}
		}
	}
	return nil
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
		e.sign_ed25519, e.failure_streak
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
	if err := r.Scan(&t.id, &t.url, &timeoutMS, &secret, &prev, &prevUntil, &t.ed25519, &t.streak); err != nil {
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
