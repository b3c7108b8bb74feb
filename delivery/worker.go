package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
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
}

type finished struct {
	c   claimed
	res attemptResult
}

// worker is the state of one Run call.
type worker struct {
	s       *Service
	mu      sync.Mutex
	busy    map[string]int       // endpoint id → attempts in flight here
	queue   map[string][]claimed // endpoint id → claimed, not yet started
	streak  map[string]int64     // endpoint id → consecutive failures, as last known here
	share   int                  // fair share of MaxInFlight per active endpoint, from the last claim
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
// Run also prunes old deliveries, runs replay jobs and refreshes metrics.
func (s *Service) Run(ctx context.Context) error {
	w := newWorker(s)
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

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-s.wake:
		case <-w.freed:
		}
		if ctx.Err() != nil {
			break
		}
		n, full, err := w.claim(ctx)
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
		case n > 0 && !full:
			timer.Reset(0) // there may be more due work and room for it
		default:
			timer.Reset(s.opt.PollInterval)
		}
	}
	w.mu.Lock()
	var unstarted []claimed
	for id, q := range w.queue {
		unstarted = append(unstarted, q...)
		delete(w.queue, id)
	}
	w.mu.Unlock()
	w.release(unstarted)
	w.wg.Wait()
	close(w.results)
	<-completerDone
	<-maintDone
	return nil
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// claimDepth is how many concurrency windows of deliveries one claim takes
// for an endpoint that is not failing: the extra rows wait in memory,
// under the same lease, and start as attempts finish, so one claim feeds
// many attempts.
const claimDepth = 4

// claim leases due deliveries for every endpoint that has room and starts
// their attempts. full reports that some endpoint or the process is at its
// concurrency limit, so the next claim should wait for a slot.
//
// Room is shared fairly: each endpoint that has work gets at most
// MaxInFlight / (endpoints with work) attempts in flight, and within that its
// slow-start window (see window), healthy endpoints served first. So
// endpoints that time out can never take the room a healthy one needs.
func (w *worker) claim(ctx context.Context) (n int, full bool, err error) {
	s := w.s
	now := s.opt.Clock.Now()
	us := store.Micros(now)
	targets, err := s.dueEndpoints(ctx, us)
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
	w.share = max(1, s.opt.MaxInFlight/max(1, active))
	// Healthy endpoints (no failure streak, widest window) first.
	sort.SliceStable(targets, func(i, j int) bool {
		a, b := targets[i], targets[j]
		if (a.streak == 0) != (b.streak == 0) {
			return a.streak == 0
		}
		return s.window(a.id) > s.window(b.id)
	})
	want := map[string]int{}
	room := s.opt.MaxInFlight - w.total
	for _, t := range targets {
		win := s.window(t.id)
		if t.streak > 0 {
			win = 1 // a failing endpoint is probed one attempt at a time
		}
		limit := min(win, w.share)
		busy, queued := w.busy[t.id], len(w.queue[t.id])
		slots := limit - busy - queued // attempts that could start now
		if slots <= 0 || room <= 0 {
			full = true
			continue
		}
		f := min(slots, room)
		room -= f
		if t.streak == 0 {
			// Not failing: a deeper batch, started as the window allows.
			f = claimDepth*limit - busy - queued
		}
		want[t.id] = min(f, s.opt.ClaimBatch)
	}
	w.mu.Unlock()
	if len(want) == 0 {
		return 0, true, nil
	}

	token := newToken()
	var got []claimed
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		got = got[:0]
		for _, t := range targets {
			f := want[t.id]
			if f == 0 {
				continue
			}
			// Lease: the rows stop being due until the endpoint's timeout
			// plus the margin has passed.
			leaseEnd := now.Add(t.timeout + s.opt.LeaseMargin)
			rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $4, lease_token = $5, updated_at = $2
				WHERE id IN (SELECT id FROM webhook_deliveries
					WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
					ORDER BY next_attempt_at LIMIT $3 `+tx.Driver().SkipLocked()+`)
				RETURNING id, event_id, attempts, first_attempt_at`,
				t.id, us, f, store.Micros(leaseEnd), token)
			if err != nil {
				return err
			}
			from := len(got)
			for rows.Next() {
				c := claimed{token: token, t: t, leaseEnd: leaseEnd}
				var first int64
				if err := rows.Scan(&c.id, &c.eventID, &c.attempts, &first); err != nil {
					rows.Close()
					return err
				}
				c.first = store.Time(first)
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
		if len(got) == 0 {
			return nil
		}
		return s.loadBodies(ctx, tx, got)
	})
	if err != nil {
		return 0, false, fmt.Errorf("claim: %w", err)
	}
	w.mu.Lock()
	for _, c := range got {
		w.queue[c.t.id] = append(w.queue[c.t.id], c)
	}
	for id := range want {
		w.pump(id)
		if len(w.queue[id]) > 0 || w.busy[id] >= w.limit(id) {
			full = true
		}
	}
	if w.total >= s.opt.MaxInFlight {
		full = true
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
		if w.s.opt.Clock.Now().Add(c.t.timeout + w.s.opt.LeaseMargin/2).After(c.leaseEnd) {
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
	res := s.attempt(context.Background(), *c.t, c.eventID, c.body, MaxLoggedBody)
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
		w.pump(id)
	} else {
		// The endpoint is failing: back to one attempt at a time, and hand
		// its other claimed deliveries back; they wait for its back-off.
		s.shrink(id)
		dropped = w.queue[id]
		delete(w.queue, id)
	}
	refill := len(w.queue[id]) < w.limit(id)
	w.mu.Unlock()
	w.results <- finished{c: c, res: res}
	if len(dropped) > 0 {
		w.release(dropped)
	}
	if refill {
		select {
		case w.freed <- struct{}{}:
		default:
		}
	}
}

// release hands claimed deliveries that were never attempted back: due now,
// without a lease. If it fails, their lease ends on its own.
func (w *worker) release(cs []claimed) {
	if len(cs) == 0 {
		return
	}
	s := w.s
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	us := store.Micros(s.opt.Clock.Now())
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, c := range cs {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $3, lease_token = '', updated_at = $3
				WHERE id = $1 AND lease_token = $2 AND status = 'pending'`, c.id, c.token, us); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.opt.Log.Warn("handing back claimed webhooks failed; their lease will end", "n", len(cs), "err", err)
	}
}

// dueEndpoints lists enabled endpoints, not backed off, that have due deliveries.
func (s *Service) dueEndpoints(ctx context.Context, us int64) ([]*target, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.id, e.url, e.timeout_ms, e.secret, e.prev_secret, e.prev_secret_until,
			e.sign_ed25519, e.failure_streak
		FROM webhook_endpoints e
		WHERE e.enabled AND e.deleted_at = 0 AND e.backoff_until <= $1
		  AND EXISTS (SELECT 1 FROM webhook_deliveries d
		              WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= $1)`, us)
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
	var t target
	var timeoutMS, prevUntil int64
	var secret, prev []byte
	if err := r.Scan(&t.id, &t.url, &timeoutMS, &secret, &prev, &prevUntil, &t.ed25519, &t.streak); err != nil {
		return nil, err
	}
	t.timeout = s.opt.AttemptTimeout
	if timeoutMS > 0 {
		t.timeout = min(time.Duration(timeoutMS)*time.Millisecond, s.opt.MaxAttemptTimeout)
	}
	t.secrets = []string{string(secret)}
	if len(prev) > 0 && prevUntil > nowUS {
		t.secrets = append(t.secrets, string(prev))
	}
	return &t, nil
}

func (s *Service) loadBodies(ctx context.Context, q store.Querier, got []claimed) error {
	byEvent := map[string][]int{}
	var ids []any
	for i, c := range got {
		if _, ok := byEvent[c.eventID]; !ok {
			ids = append(ids, c.eventID)
		}
		byEvent[c.eventID] = append(byEvent[c.eventID], i)
	}
	for start := 0; start < len(ids); start += 500 {
		end := min(start+500, len(ids))
		rows, err := q.QueryContext(ctx, `SELECT id, payload FROM webhook_events WHERE id IN (`+placeholders(1, end-start)+`)`, ids[start:end]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var body []byte
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return err
			}
			for _, i := range byEvent[id] {
				got[i].body = body
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, c := range got {
		if c.body == nil {
			return errors.New("delivery " + c.id + ": its event " + c.eventID + " is missing")
		}
	}
	return nil
}

// placeholders returns "$from, $from+1, …" n times.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}
