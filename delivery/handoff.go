package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
)

// Handoff: deliveries leased at enqueue time, skipping the claim.
//
// When this Service's own worker is running in this process and can take
// more work for an endpoint, the enqueueing transaction's Flush inserts that
// endpoint's new deliveries already leased to the worker — next_attempt_at
// at the lease end (now + the endpoint's timeout + LeaseMargin), lease_token
// the worker's token — exactly as a claim would have left them, and once the
// transaction has committed (AfterCommit) hands the rows straight to the
// worker's in-memory queue. No claim transaction reads them back and no
// wake-up is needed for them: on SQLite the claim waited for the writer,
// behind every other transaction, and on PostgreSQL it cost a round trip.
//
// Every guarantee of a claim holds, because in the database a handed-off row
// is indistinguishable from a claimed one: if the process dies before or
// after the handoff, the lease ends and any process retries the delivery
// (at-least-once, same webhookId); until then no process can claim it (no
// overlap); a rolled-back transaction wrote nothing and hands nothing off
// (AfterCommit does not run). Rows that are not handed off are inserted due
// and unleased, and woken for, as before.

// readingFresh is how old the worker's reading of an endpoint (its url,
// secrets, timeout, ed25519 flag and failure streak) may be for a handoff
// to use it. Claimed rows already wait in memory about claimAhead with the
// target read at claim time (at most LeaseMargin/2, pump's stale check), so
// a handed-off row started with a reading this old is no staler than a
// claimed one. An older reading is read again inside the enqueueing
// transaction (refreshReadings): a stream of handoffs makes no claims, so
// claims alone would let it age and send one event in every readingFresh
// the slow way, through a wake-up and a claim — enough of a healthy
// stream's events (2 % at 200/s) to be its p99.
const readingFresh = claimAhead

// reading is what the worker last read about an endpoint, in a claim or in
// an enqueueing transaction.
type reading struct {
	t   *target   // nil: read as not attemptable (disabled, deleted or backed off): no handoff, read again once stale
	at  time.Time // when (real time: what ages is the database row, not the fake clock of tests)
	gen uint64    // Service.epGen before the read: this Service's endpoint changes since make it stale
}

// remember keeps the endpoints read by a claim's dueEndpoints or by
// refreshReadings (gen loaded before the read) for handoffs. Called with
// w.mu held.
func (w *worker) remember(targets []*target, gen uint64, at time.Time) {
	for _, t := range targets {
		w.seen[t.id] = reading{t: t, at: at, gen: gen}
	}
}

// handoff is one transaction's plan: how many of its new deliveries each
// endpoint takes already leased, and the rows written so, handed to the
// worker once the transaction commits.
type handoff struct {
	w        *worker
	leaseEnd map[string]time.Time // endpoint id → the lease its rows get
	left     map[string]int       // endpoint id → rows still to hand off
	t        map[string]*target
	gen      uint64    // Service.epGen of the readings in t (claimed.gen)
	rows     []claimed // handed off
	due      []string  // the endpoints of the rows written due (not handed off), to wake for
}

// planHandoff decides, in tx just before the deliveries for evs are
// written, which endpoints take some of them already leased, and how many
// (the oldest first). It returns nil when none does. An endpoint takes rows
// only if this worker has a fresh reading of it (readingFresh, and no
// endpoint change by this Service since: see refreshReadings), it has no
// failure streak and no failure being recorded here, and its in-flight
// plus queued rows are below the depth a claim would take for it
// (claimRows), with MaxInFlight room: what a claim woken for these rows
// would have taken. Otherwise the rows go the old way (due, woken for).
//
// Nothing is reserved: a transaction that rolls back has no hook to give a
// reservation back. On SQLite transactions are serialized from Flush through
// AfterCommit, so no two plans overlap; on PostgreSQL transactions
// committing together may each fill an endpoint up to its depth, bounded by
// their number, and pump's stale check hands back any row that then waits
// too long.
func (w *worker) planHandoff(ctx context.Context, tx *store.Tx, evs []bufferedEvent) (*handoff, error) {
	s := w.s
	count := map[string]int{}
	for _, ev := range evs {
		for _, ep := range ev.endpoints {
			count[ep]++
		}
	}
	gen := s.epGen.Load()
	wall := time.Now()
	now := s.opt.Clock.Now()
	// Endpoints this worker knows and could take rows for but read too long
	// ago are read again, here: the transaction sees them at least as
	// recently as a claim after its commit would.
	var stale []string
	w.mu.Lock()
	if w.stopped || w.total >= s.opt.MaxInFlight {
		w.mu.Unlock()
		return nil, nil
	}
	for id := range count {
		// A failure streak here is no reason not to read it: the endpoint
		// may have been re-enabled since (by any process), which starts
		// the streak over (refreshReadings reconciles it as a claim does).
		r, ok := w.seen[id]
		if ok && (r.gen != gen || wall.Sub(r.at) >= readingFresh) && w.canRead(id) {
			stale = append(stale, id)
		}
	}
	w.mu.Unlock()
	if len(stale) > 0 {
		if err := w.refreshReadings(ctx, tx, stale, gen, wall, store.Micros(now)); err != nil {
			return nil, err
		}
	}
	var h *handoff
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, n := range count {
		r, ok := w.seen[id]
		if !ok || r.t == nil || r.gen != gen || wall.Sub(r.at) >= readingFresh || r.t.streak > 0 || !w.canTake(id) {
			continue
		}
		k := min(n, w.claimRows(id, w.limit(id))-w.busy[id]-len(w.queue[id]))
		if k <= 0 {
			continue
		}
		if h == nil {
			h = &handoff{w: w, leaseEnd: map[string]time.Time{}, left: map[string]int{}, t: map[string]*target{}, gen: gen}
		}
		h.left[id] = k
		h.t[id] = r.t
		// As a claim would: the row is not due again until the attempt's
		// timeout plus the margin has passed.
		h.leaseEnd[id] = now.Add(r.t.timeout + s.opt.LeaseMargin)
	}
	return h, nil
}

// canTake reports whether the worker may take rows for endpoint id without
// a claim, as far as its own state goes: running, room left, and the
// endpoint not failing here. Called with w.mu held.
func (w *worker) canTake(id string) bool {
	return w.canRead(id) && w.streak[id] == 0
}

// canRead reports whether a stale reading of endpoint id is worth reading
// again for a handoff: canTake but for a failure streak, which the reading
// may end (the endpoint re-enabled). Called with w.mu held.
func (w *worker) canRead(id string) bool {
	return !w.stopped && w.total < w.s.opt.MaxInFlight && w.failing[id] == 0
}

// endpointReadingQuery reads what an attempt needs of endpoints that may be
// attempted now: enabled, not deleted, not backed off (dueEndpoints' test,
// without the due rows, which the caller is writing).
const endpointReadingQuery = `SELECT e.id, e.url, e.timeout_ms, e.secret, e.prev_secret, e.prev_secret_until,
		e.sign_ed25519, e.failure_streak, e.updated_at, e.streak_resets
	FROM webhook_endpoints e
	WHERE e.enabled AND e.deleted_at = 0 AND e.backoff_until <= `

// refreshReadings reads endpoints ids again in tx, the enqueueing
// transaction, for planHandoff (gen loaded before the read), reconciling
// the worker's failure streaks with the rows as a claim does (reconcile).
// One that is disabled, deleted or backed off now is remembered so (a
// reading without a target): its rows go the old way, and an enqueue
// reads it again once that reading is stale, so that one re-enabled by
// another process is handed rows again without waiting for a claim to
// read it. (It was forgotten, and only a claim read it again.) A deleted
// one is forgotten when the worker forgets its endpoint (forget.go).
func (w *worker) refreshReadings(ctx context.Context, tx *store.Tx, ids []string, gen uint64, wall time.Time, us int64) error {
	p := newParams(tx.Driver())
	q := endpointReadingQuery + p.next() + ` AND e.id IN (` + p.list(len(ids)) + `)`
	args := append([]any{us}, anys(ids)...)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("delivery: read endpoints: %w", err)
	}
	defer rows.Close()
	var got []*target
	for rows.Next() {
		t, err := w.s.scanTarget(rows, us)
		if err != nil {
			return fmt.Errorf("delivery: read endpoints: %w", err)
		}
		got = append(got, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("delivery: read endpoints: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		w.seen[id] = reading{at: wall, gen: gen}
	}
	for _, t := range got {
		w.reconcile(t)
	}
	w.remember(got, gen, wall)
	return nil
}

// take reports whether the delivery id of ev to endpoint ep is handed off,
// and if so records it and returns its next_attempt_at and lease token.
func (h *handoff) take(id string, ev *bufferedEvent, ep string) (nextAt int64, token string, ok bool) {
	if h == nil {
		return 0, "", false
	}
	if h.left[ep] == 0 {
		h.due = append(h.due, ep)
		return 0, "", false
	}
	h.left[ep]--
	end := h.leaseEnd[ep]
	h.rows = append(h.rows, claimed{id: id, eventID: ev.id, token: h.w.token, leaseEnd: end, body: ev.body, t: h.t[ep],
		gen: h.gen, enqueuedBy: ev.traceParent})
	return store.Micros(end), h.w.token, true
}

// accept queues handed-off rows once their transaction has committed and
// starts what the endpoints have room for. It runs in AfterCommit, on
// SQLite with the store's write lock still held, so while the worker runs it
// writes nothing itself: rows it cannot take because the endpoint began
// failing here are handed back by a goroutine that Run waits for (added to
// w.wg before stop, under w.mu), as pump's stale rows are; if that fails,
// their lease ends.
//
// Rows that reach a stopped worker (the transaction planned the handoff
// before Run's stop and committed after it) are handed back here instead,
// synchronously, on the enqueueing goroutine, before its InTx returns
// (releaseNow). Run cannot wait for them: it does not know such a
// transaction exists (one that rolls back has no hook to say so), may have
// returned already, and should not have its stop depend on callers'
// transactions. The enqueueing call, however, is still running, and
// whoever closes the database already waits for it (the daemon stops its
// HTTP server and workers first). So no goroutine is left to touch the
// database after Run returns, and the rows are due again, unleased, by the
// time the call that committed them returns — not after their lease.
func (w *worker) accept(rows []claimed) {
	if w.s.dropHandoff != nil && w.s.dropHandoff(rows) {
		return // a test's process that "died" between the commit and here
	}
	var back []claimed
	w.mu.Lock()
	stopped := w.stopped
	ids := map[string]bool{}
	for _, c := range rows {
		id := c.t.id
		if w.stopped || w.streak[id] > 0 || w.failing[id] > 0 {
			// Stopped: nothing would start it. Failing: a claim would not
			// take it now either; it waits for the endpoint's back-off.
			back = append(back, c)
			continue
		}
		w.queue[id] = append(w.queue[id], c)
		ids[id] = true
	}
	for id := range ids {
		w.pump(id)
	}
	if len(back) > 0 && !stopped {
		w.wg.Add(1) // before Run's Wait: stop, under w.mu too, has not run
	}
	w.mu.Unlock()
	switch {
	case len(back) == 0:
	case stopped:
		w.releaseNow(back)
	default:
		go func() {
			defer w.wg.Done()
			w.release(back)
		}()
	}
}
