package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
	// gen is Service.epGen before t was read: once this Service has
	// changed an endpoint since (deleted it, changed its URL or secret,
	// disabled it), t may be out of date and the row is not attempted
	// with it, but handed back (pump) and claimed again, read afresh.
	gen uint64
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
	gens    map[string]streakGen     // endpoint id → its gen (target.gen) under which streak holds (reconcile)
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
		gens:    map[string]streakGen{},
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
		if now.Add(c.t.timeout+w.s.opt.LeaseMargin/2).After(c.leaseEnd) || w.s.windowEnded(c.first, now) ||
			c.gen != w.s.epGen.Load() {
			// Stale, or its retry window ended while it waited here: no
			// attempt may start after it (the next claim dead-letters it).
			// Or its endpoint reading predates an endpoint change: the
			// next claim reads the endpoint as it is now (deleted: the
			// row is dead already, and the hand-back leaves it so).
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
// releaseNow), and of a replay job on a stop (releaseJob): past it, their
// lease ends on its own.
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
