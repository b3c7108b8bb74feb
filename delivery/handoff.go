package delivery

import (
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
// secrets, timeout, ed25519 flag and failure streak, from the last claim's
// dueEndpoints) may be for a handoff to use it. Claimed rows already wait in
// memory about claimAhead with the target read at claim time (at most
// LeaseMargin/2, pump's stale check), so a handed-off row started with a
// reading this old is no staler than a claimed one. A stream of handoffs
// refreshes the reading at least this often: once it is too old, the next
// enqueue takes the old path, whose claim reads the endpoint again.
const readingFresh = claimAhead

// reading is what the worker last read about an endpoint in a claim.
type reading struct {
	t   *target
	at  time.Time // when (real time: what ages is the database row, not the fake clock of tests)
	gen uint64    // Service.epGen before the read: this Service's endpoint changes since make it stale
}

// remember keeps the endpoints a claim's dueEndpoints read (gen loaded before
// the read) for handoffs. Called with w.mu held.
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
	rows     []claimed // handed off
	due      []string  // the endpoints of the rows written due (not handed off), to wake for
}

// planHandoff decides, for the deliveries about to be written for evs, which
// endpoints take some already leased, and how many (the oldest first). It
// returns nil when none does. An endpoint takes rows only if this worker read
// it freshly in a claim (readingFresh, and no endpoint change by this Service
// since), it has no failure streak and no failure being recorded here, and
// its in-flight plus queued rows are below the depth a claim would take for
// it (claimRows), with MaxInFlight room: exactly what a claim woken for these
// rows would have taken. Otherwise the rows go the old way (due, woken for).
//
// Nothing is reserved: a transaction that rolls back has no hook to give a
// reservation back. On SQLite transactions are serialized from Flush through
// AfterCommit, so no two plans overlap; on PostgreSQL transactions
// committing together may each fill an endpoint up to its depth, bounded by
// their number, and pump's stale check hands back any row that then waits
// too long.
func (w *worker) planHandoff(evs []bufferedEvent) *handoff {
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
	var h *handoff
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.total >= s.opt.MaxInFlight {
		return nil
	}
	for id, n := range count {
		r, ok := w.seen[id]
		if !ok || r.gen != gen || wall.Sub(r.at) >= readingFresh {
			continue
		}
		if r.t.streak > 0 || w.streak[id] > 0 || w.failing[id] > 0 {
			continue
		}
		k := min(n, w.claimRows(id, w.limit(id))-w.busy[id]-len(w.queue[id]))
		if k <= 0 {
			continue
		}
		if h == nil {
			h = &handoff{w: w, leaseEnd: map[string]time.Time{}, left: map[string]int{}, t: map[string]*target{}}
		}
		h.left[id] = k
		h.t[id] = r.t
		// As a claim would: the row is not due again until the attempt's
		// timeout plus the margin has passed.
		h.leaseEnd[id] = now.Add(r.t.timeout + s.opt.LeaseMargin)
	}
	return h
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
	h.rows = append(h.rows, claimed{id: id, eventID: ev.id, token: h.w.token, leaseEnd: end, body: ev.body, t: h.t[ep]})
	return store.Micros(end), h.w.token, true
}

// accept queues handed-off rows once their transaction has committed and
// starts what the endpoints have room for. It runs in AfterCommit, on
// SQLite with the store's write lock still held, so it writes nothing
// itself: rows it cannot take (the worker stopped meanwhile, or the
// endpoint began failing here) are handed back by a goroutine, as Run's
// shutdown hands back its unstarted rows; if that fails, their lease ends.
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
		w.wg.Add(1) // Run waits for it, as for pump's stale rows
	}
	w.mu.Unlock()
	if len(back) > 0 {
		go func() {
			if !stopped {
				defer w.wg.Done()
			}
			w.release(back)
		}()
	}
}
