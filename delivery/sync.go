package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Response is what a synchronous send got back.
type Response struct {
	WebhookID  string        `json:"webhookId"`
	DeliveryID string        `json:"deliveryId"`
	URL        string        `json:"url"`
	Status     int           `json:"status"` // 0 when no valid HTTP response arrived (timeout, refused, a code outside 100–599)
	Body       []byte        `json:"-"`      // up to 64 KiB
	Header     http.Header   `json:"-"`
	Latency    time.Duration `json:"-"`
	Err        error         `json:"-"` // transport error or timeout; nil when Status is set
}

// Delivered reports whether the receiver accepted the webhook (2xx or 409).
func (r *Response) Delivered() bool { return r.Err == nil && classify(r.Status) == outcomeDelivered }

// SendOptions tune a synchronous send.
type SendOptions struct {
	// EndpointID picks the endpoint; empty = the primary endpoint.
	EndpointID string
	// Timeout bounds the attempt instead of the endpoint's timeout, up to
	// Options.MaxAttemptTimeout (also bounded by ctx); 0 = the endpoint's
	// timeout. The caller knows how long the answer is worth waiting for:
	// an approval given 30 s (approval-timeout) is not cut at the
	// endpoint's 10 s.
	Timeout time.Duration
}

// Send delivers ev to one endpoint now and returns the receiver's answer
// within the deadline — for webhooks whose reply decides something, such as
// the INCOMING_PAYMENT approval (200 / 202 / 403 / 422 / timeout). The event,
// the delivery and the attempt are recorded like any other, but the send is
// never retried: the caller acts on the answer or its absence. A receiver's
// non-2xx answer is a Response, not an error; errors mean the send could not
// be made (no endpoint, database failure). A disabled endpoint is not sent
// to (ErrEndpointDisabled, a 409): it was disabled so that nothing reaches
// it, and a send that is never retried cannot wait for it as queued
// deliveries do.
//
// The answer feeds the endpoint's back-off as a queued attempt's does
// (recordSyncHealth): a 429, a 503, any other failure backs it off (at
// least for a bounded Retry-After), so its queued deliveries wait; a
// success ends its back-off. A send to an endpoint that is backed off is
// still made: the back-off spares workers and the receiver the queued
// deliveries, which can wait, while a sync send is time-critical and never
// retried (an approval not asked rejects the payment), and its answer is
// the freshest news of the endpoint: it renews or ends the back-off.
func (s *Service) Send(ctx context.Context, ev Event, opt SendOptions) (*Response, error) {
	now := s.opt.Clock.Now()
	body, err := ev.encode(now)
	if err != nil {
		return nil, err
	}
	us := store.Micros(now)
	var t *target
	deliveryID := vaspd.NewID(vaspd.IDDelivery)
	token := newToken()
	findTarget := func(q store.Querier) (*target, error) {
		const sel = `SELECT id, url, timeout_ms, secret, prev_secret, prev_secret_until, sign_ed25519, failure_streak,
			updated_at, streak_resets, enabled, disabled_reason FROM webhook_endpoints WHERE deleted_at = 0 AND `
		var row *sql.Row
		if opt.EndpointID == "" {
			row = q.QueryRowContext(ctx, sel+`is_primary ORDER BY id LIMIT 1`)
		} else {
			row = q.QueryRowContext(ctx, sel+`id = $1`, opt.EndpointID)
		}
		var enabled bool
		var reason string
		t, err := s.scanTarget(extraCols{row, []any{&enabled, &reason}}, us)
		if err == nil && !enabled {
			return nil, disabledError(t.id, reason)
		}
		return t, err
	}
	// Look for the endpoint with a plain read first: a platform without
	// one (every incoming payment is then approved without asking) must not
	// open a write transaction per send only to roll it back — on SQLite
	// that queued every payreq behind the single writer. The transaction
	// below reads the endpoint again, so an endpoint deleted or replaced
	// in between is seen as before.
	if _, err := findTarget(s.db); err != nil {
		return nil, s.targetError(err, opt.EndpointID)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		t, err = findTarget(tx)
		if err != nil {
			return err
		}
		// The caller's span, which this attempt is a child of, is kept
		// for the attempts of a redelivery or replay to link to.
		q, args := `INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
			[]any{ev.ID, ev.Type, body, store.Micros(ev.Time), us}
		if tp := enqueuedBy(ctx); tp != "" {
			q = `INSERT INTO webhook_events (id, type, payload, occurred_at, created_at, trace_parent) VALUES ($1, $2, $3, $4, $5, $6)`
			args = append(args, tp)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
			(id, event_id, endpoint_id, status, attempts, next_attempt_at, lease_token, first_attempt_at,
			 last_status, last_error, created_at, updated_at, finished_at)
			VALUES ($1, $2, $3, 'sending', 0, $4, $5, $4, 0, '', $4, $4, 0)`, deliveryID, ev.ID, t.id, us, token)
		return err
	})
	if err != nil {
		return nil, s.targetError(err, opt.EndpointID)
	}
	if opt.Timeout > 0 {
		t.timeout = min(opt.Timeout, s.opt.MaxAttemptTimeout)
	}
	res := s.tracedAttempt(ctx, *t, attemptSpan{deliveryID: deliveryID, webhookID: ev.ID, eventType: ev.Type, number: 1}, body, maxSyncBody)
	resp := &Response{WebhookID: ev.ID, DeliveryID: deliveryID, URL: t.url, Status: res.status, Body: res.body,
		Header: res.header, Latency: res.latency, Err: res.err}
	if res.err != nil {
		resp.Status = 0
	}

	status, label := StatusFailed, labelSyncFailed
	if resp.Delivered() {
		status, label = StatusDelivered, labelSyncDelivered
	}
	msg := res.errString()
	if msg == "" && status == StatusFailed {
		msg = fmt.Sprintf("HTTP %d %s", res.status, http.StatusText(res.status))
	}
	logged := res.body
	if len(logged) > MaxLoggedBody {
		logged = logged[:MaxLoggedBody]
	}
	if logged == nil {
		logged = []byte{}
	}
	// Record even if the caller's context is done: the attempt happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	end := store.Micros(s.opt.Clock.Now())
	gone, disabled := classify(res.status) == outcomeGone, false
	health := syncHealth(ctx, res)
	var streak int64
	var streakChanged bool
	var gen streakGen
	err = s.db.InTx(rctx, func(tx *store.Tx) error {
		// The endpoint row first, then the delivery's: the lock order of
		// every transaction that writes both (lockEndpoints).
		//
		// A 410 disables the endpoint, as it does for queued deliveries
		// (recordendpoints.go): its waiting deliveries then wait for it to be
		// re-enabled. Only if it still has the URL that answered, and is
		// still enabled (an operator's reason for disabling it stays).
		disabled = false
		if gone {
			s.endpointsChanged() // before the write, as updateEndpoint does
			var err error
			if disabled, err = disableGoneURL(rctx, tx, t.id, t.url, end); err != nil {
				return err
			}
		}
		var err error
		if streak, gen, streakChanged, err = s.recordSyncHealth(rctx, tx, t.id, health, res); err != nil {
			return err
		}
		logMsg := msg
		if disabled {
			logMsg += ": endpoint disabled until re-enabled"
		}
		if _, err := tx.ExecContext(rctx, `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_us,
			status_code, response_body, error) VALUES ($1, 1, $2, $3, $4, $5, $6)`,
			deliveryID, store.Micros(res.started), res.latency.Microseconds(), res.status, logged, logMsg); err != nil {
			return err
		}
		_, err = tx.ExecContext(rctx, `UPDATE webhook_deliveries SET status = $2, attempts = 1, last_status = $3,
			last_error = $4, lease_token = '', updated_at = $5, finished_at = $5 WHERE id = $1`,
			deliveryID, status, res.status, logMsg, end)
		return err
	})
	s.m.attempt(res)
	if err != nil {
		// The receiver's answer stands; only the log is missing. The
		// delivery stays "sending" until Prune fails it as interrupted,
		// as after a crash, and counts it then: the outcome counted is
		// the one stored, not an answer the log never shows.
		s.opt.Log.Error("recording a synchronous webhook attempt failed", "delivery", deliveryID, "err", err)
	} else {
		s.m.outcome(label)
		if disabled {
			s.opt.Log.Warn("webhook endpoint disabled", "endpoint", t.id, "reason", goneReason)
		}
		if !streakChanged {
			gen = t.gen // the row's streak was 0 as read with the send
		}
		s.syncHealthSeen(t.id, gen, health, streak, streakChanged)
	}
	return resp, nil
}

// health is what one synchronous attempt tells of its endpoint's health.
type health int

const (
	healthNone    health = iota // nothing: a 410 (handled on its own), a decision, a cancelled caller
	healthOK                    // delivered: the back-off ends
	healthFailing               // a failure: backed off, as after a queued one
)

// syncHealth judges a synchronous attempt's result for the endpoint's
// back-off as classify judges a queued one's, with two exceptions. A 403
// or 422 is the approval flow's decision (reject, need more information),
// an answer from a receiver at work, not a failure: counted as one, every
// rejected payment would back off the platform's endpoint, up to 5 min.
// And an attempt whose caller went away (ctx cancelled, not its deadline)
// says nothing of the receiver. A timeout, the endpoint's or the caller's
// deadline (the approval timeout), is a failure, as a queued one is.
func syncHealth(ctx context.Context, res attemptResult) health {
	switch {
	case res.err == nil && classify(res.status) == outcomeDelivered:
		return healthOK
	case res.err == nil && (res.status == http.StatusGone ||
		res.status == http.StatusForbidden || res.status == http.StatusUnprocessableEntity):
		return healthNone
	case errors.Is(ctx.Err(), context.Canceled):
		return healthNone
	}
	return healthFailing
}

// recordSyncHealth writes what a synchronous attempt's result h means for
// endpoint id's failure streak and back-off, in tx, as record does for
// queued attempts, and returns the new streak, the row's gen (updated_at,
// streak_resets) it holds under, and whether it wrote one.
//
// A success resets the streak and ends the back-off (no write when there
// is none), and counts the reset in streak_resets: every process's worker
// then drops the streak it holds (reconcile). A failure adds one to the
// streak in the row itself — other processes' workers, and other sync
// sends, may be recording failures of the same endpoint at once — and
// moves backoff_until to the back-off that
// streak earns (endpointBackoffUntil: jittered, capped, counted from when
// the failure was seen) or the receiver's Retry-After, already bounded by
// MaxRetryAfter (attempt), whichever is later, never earlier than it was.
// The queued deliveries to the endpoint are then not claimed before that
// time: at least the Retry-After, as after a queued attempt's answer.
func (s *Service) recordSyncHealth(ctx context.Context, tx *store.Tx, id string, h health, res attemptResult) (int64, streakGen, bool, error) {
	var g streakGen
	switch h {
	case healthOK:
		err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET failure_streak = 0, backoff_until = 0,
				streak_resets = streak_resets + CASE WHEN failure_streak <> 0 THEN 1 ELSE 0 END
			WHERE id = $1 AND (failure_streak <> 0 OR backoff_until <> 0)
			RETURNING updated_at, streak_resets`, id).Scan(&g.updated, &g.resets)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, g, false, nil // nothing to reset
		}
		if err != nil {
			return 0, g, false, fmt.Errorf("reset endpoint streak: %w", err)
		}
		return 0, g, true, nil
	case healthFailing:
		var streak int64
		err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET failure_streak = failure_streak + 1
			WHERE id = $1 RETURNING failure_streak, updated_at, streak_resets`, id).Scan(&streak, &g.updated, &g.resets)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, g, false, nil // cannot be (endpoints are deleted softly)
		}
		if err != nil {
			return 0, g, false, fmt.Errorf("update endpoint streak: %w", err)
		}
		until := store.Micros(endpointBackoffUntil(s.opt.Retry, streak, res.started.Add(res.latency), res.retryAfter, s.rnd))
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET backoff_until = $2
			WHERE id = $1 AND backoff_until < $2`, id, until); err != nil {
			return 0, g, false, fmt.Errorf("update endpoint back-off: %w", err)
		}
		return streak, g, true, nil
	}
	return 0, g, false, nil
}

// syncHealthSeen tells this process, once the sync attempt's effect on
// endpoint id has committed, what a queued attempt's result would have
// told it (worker.run, record): the slow-start window, the metric, and the
// running worker's own view of the endpoint. That worker computes the
// streaks it records from what it last knew (record), so it learns the
// new streak; after a failure it also stops taking handoffs for the
// endpoint (canTake) and hands back the deliveries it had claimed but not
// started, which now wait for the back-off. A queued result being recorded
// at the same moment may still write its streak from the older view:
// one failure fewer counted, a shorter back-off, no delivery lost.
func (s *Service) syncHealthSeen(id string, gen streakGen, h health, streak int64, changed bool) {
	switch h {
	case healthOK:
		s.grow(id)
	case healthFailing:
		s.shrink(id)
	default:
		return
	}
	if changed {
		s.m.streak(id, streak)
	}
	w := s.running.Load()
	if w == nil {
		return
	}
	var dropped []claimed
	w.mu.Lock()
	w.streak[id] = streak
	w.gens[id] = gen // the streak is the row's, under the gen the send wrote it (or read it) with
	if h == healthFailing && !w.stopped {
		dropped = w.queue[id]
		delete(w.queue, id)
		if len(dropped) > 0 {
			w.wg.Add(1) // before Run's Wait: stop, under w.mu too, has not run
		}
	}
	w.mu.Unlock()
	if len(dropped) > 0 {
		// Not on the caller's time: an approval is waiting for Send.
		go func() {
			defer w.wg.Done()
			w.release(dropped)
		}()
	}
}

// targetError maps a failure to find or record a synchronous send's
// endpoint: no row is ErrNoEndpoint for the primary endpoint and a 404 for
// a named one.
func (s *Service) targetError(err error, endpointID string) error {
	switch {
	case errors.Is(err, ErrEndpointDisabled):
		return err
	case errors.Is(err, sql.ErrNoRows) && endpointID == "":
		return ErrNoEndpoint
	case errors.Is(err, sql.ErrNoRows):
		return vaspd.NotFound(vaspd.CodeWebhookEndpointNotFound, "webhook endpoint %s not found", vaspd.Truncate(endpointID, 80))
	default:
		return fmt.Errorf("delivery: record sync send: %w", err)
	}
}

// disabledError is a synchronous send's refusal to post to a disabled
// endpoint: the platform (or a 410 from the receiver) stopped deliveries
// to it, and a webhook that is not retried cannot wait for it to resume
// as queued ones do. A 409 for the API, ErrEndpointDisabled for callers.
func disabledError(id, reason string) error {
	if reason == "" {
		reason = "no reason recorded"
	}
	e := vaspd.Conflict(vaspd.CodeConflict, "webhook endpoint %s is disabled (%s); re-enable it first "+
		"(PATCH /webhooks/endpoints/{id} with enabled true)", id, vaspd.Truncate(reason, 200))
	e.Err = ErrEndpointDisabled
	return e
}

// extraCols scans a row's trailing columns into extra after the ones a
// shared scanner (scanTarget) reads.
type extraCols struct {
	r     scanner
	extra []any
}

func (x extraCols) Scan(dest ...any) error { return x.r.Scan(append(dest, x.extra...)...) }

// TestResult is the UMAaaS TestWebhookResponse.
type TestResult struct {
	URL            string `json:"url"`
	ResponseStatus int    `json:"response_status"`
	ResponseBody   string `json:"response_body"`
	// DeliveryID is the delivery the send made (GET /webhooks/deliveries
	// lists it), for the audit trail; not part of UMAaaS's answer.
	DeliveryID string `json:"-"`
}

// SendTest sends a TEST webhook synchronously (POST /webhooks/test) to the
// given endpoint, or the primary one when endpointID is empty. A receiver
// that did not accept it is reported as a 400 WEBHOOK_DELIVERY_ERROR whose
// details carry the same fields; a disabled endpoint is a 409 CONFLICT and
// gets nothing.
func (s *Service) SendTest(ctx context.Context, endpointID string) (TestResult, error) {
	resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: endpointID})
	if errors.Is(err, ErrNoEndpoint) {
		return TestResult{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeWebhookEndpointNotSet, "no webhook endpoint is configured")
	}
	if err != nil {
		return TestResult{}, err
	}
	out := TestResult{URL: resp.URL, ResponseStatus: resp.Status, ResponseBody: string(resp.Body), DeliveryID: resp.DeliveryID}
	if len(out.ResponseBody) > MaxLoggedBody {
		out.ResponseBody = out.ResponseBody[:MaxLoggedBody]
	}
	if !resp.Delivered() {
		msg := "the webhook endpoint did not accept the test webhook"
		if resp.Err != nil {
			msg += ": " + resp.Err.Error()
		}
		return out, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeWebhookDeliveryError, "%s", msg).WithDetails(map[string]any{
			"url": out.URL, "response_status": out.ResponseStatus, "response_body": out.ResponseBody,
		})
	}
	return out, nil
}
