package vasp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// Post-transaction callbacks (UMA's utxoCallback) go out durably, on the
// webhooks' schedule. What is owed lives on the transaction row
// (callback_state, migration 0420): a payment that reaches COMPLETED owes
// its callback from that very commit, whichever process made it, so a
// crash or a restart loses none. Any process may send one; a claim pushes
// callback_next_at past a lease, so two processes never send the same
// callback at once, and one that dies mid-send hands it on when the lease
// ends. An attempt's outcome is recorded only while its claim still holds
// (callback_next_at is still the lease it set): an attempt that outlived
// its lease, whose callback another process has claimed since, changes
// nothing. An attempt cut short by a graceful stop hands its callback back
// (releaseCallback). Each attempt is signed afresh (the counterparty checks
// the timestamp). A receiver's permanent refusal (callbackFinal: most 4xx,
// and 501), or our SSRF guard's (a non-public address), ends it at once,
// kept as "refused"; other failures are retried until the window ends
// ("dead"). The payment is final whatever happens here.

// Callback states.
const (
	callbackPending = "pending" // owed once the transaction is COMPLETED
	callbackSent    = "sent"
	callbackNone    = "none" // the counterparty gave no callback URL
	callbackDead    = "dead" // retried for the whole window
	// callbackRefused: the receiver refused it for good (callbackFinal;
	// callback_error keeps its status and the start of its answer), or
	// our policy denies the counterparty since the payment (never sent).
	callbackRefused = "refused"
)

const (
	// callbackLease is how long a claimed callback is left to its sender.
	callbackLease = 30 * time.Second
	// callbackBatch is how many callbacks one round claims and sends.
	callbackBatch = 16
	// callbackTimeout bounds building one attempt, and sending it.
	callbackTimeout = 10 * time.Second
)

// callbackPolicy is the webhooks' schedule: 10 s doubling, each delay
// capped at 1 h, ±10 %, for 3 days after the payment completed; a 429 or
// 503's Retry-After is honoured up to the webhooks' bound (1 h).
var callbackPolicy = delivery.RetryPolicy{}

// wakeCallbacks tells the sender a callback may be due now.
func (s *Service) wakeCallbacks() {
	select {
	case s.callbackWake <- struct{}{}:
	default:
	}
}

// sendCallbacks sends the callbacks owed until ctx ends.
func (s *Service) sendCallbacks(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		n, err := s.callbackRound(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("post-transaction callbacks", "err", err)
		}
		if n == callbackBatch && err == nil {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.callbackWake:
		}
	}
}

// owedCallback is a claimed callback.
type owedCallback struct {
	t        Transaction
	attempts int
	lease    int64 // callback_next_at as the claim set it; guards the record
}

// callbackRound claims the callbacks due and sends them; it returns how
// many it claimed.
func (s *Service) callbackRound(ctx context.Context) (int, error) {
	now := s.clock.Now()
	until := now.Add(callbackLease)
	owed, err := claimOwed(ctx, s.db, owedClaim{work: "callback", now: now, until: until, limit: callbackBatch,
		extra: ", callback_attempts"},
		func(row interface{ Scan(...any) error }) (owedCallback, error) {
			o := owedCallback{lease: store.Micros(until)}
			t, err := scanTransaction(scanWithExtra{row, &o.attempts})
			o.t = t
			return o, err
		})
	if err != nil {
		return 0, fmt.Errorf("claim callbacks: %w", err)
	}
	var wg sync.WaitGroup
	for _, o := range owed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.sendCallback(ctx, o)
		}()
	}
	wg.Wait()
	return len(owed), nil
}

// scanWithExtra scans a transaction row followed by extra columns.
type scanWithExtra struct {
	rows  interface{ Scan(...any) error }
	extra *int
}

func (x scanWithExtra) Scan(dest ...any) error {
	return x.rows.Scan(append(dest, x.extra)...)
}

// sendCallback makes one attempt at o's callback and records the outcome.
func (s *Service) sendCallback(ctx context.Context, o owedCallback) {
	t := o.t
	if t.Details.UtxoCallback == "" {
		s.recordCallback(ctx, o, callbackNone, o.attempts, 0, "")
		return
	}
	// The callback carries our node's UTXOs to the counterparty: not to
	// one our policy has denied since the payment (Compliance is asked
	// before we call a VASP). Final, as a receiver's refusal is. A
	// counterparty that is not an UMA address (a row another tool or an
	// older vaspd wrote) names no domain to ask about: refused too, never
	// sent unchecked. A sender may name itself without the "$" (its
	// payreq was verified with its domain's keys, as ReceiveUtxoCallback
	// hears it); a receiver we paid is always "$…".
	// Nor to a host it denies (or, with an allow list, does not name),
	// whatever the counterparty's own domain (callbackAllowed).
	addr, err := uma.ParseAddress(t.Counterparty)
	switch {
	case err != nil:
		err = errors.New("the payment's counterparty is not an UMA address, so our policy cannot be applied")
	case t.Direction == Outgoing && !addr.UMA:
		err = errors.New("the payment's counterparty is a plain Lightning Address, no UMA VASP")
	default:
		err = s.opt.Compliance.CounterpartyAllowed(ctx, addr.Domain)
		if err == nil {
			err = s.callbackAllowed(ctx, t.Details.UtxoCallback)
		}
		if err != nil {
			err = errors.New(uma.AsError(err).Reason)
		}
	}
	if err != nil {
		s.log.Warn("post-transaction callback not sent: our policy does not allow the counterparty",
			"transaction", t.ID, "counterparty", vaspd.Truncate(addr.Domain, 100), "reason", err.Error())
		s.recordCallback(ctx, o, callbackRefused, o.attempts, 0, storableText("not sent: "+err.Error(), callbackExcerpt))
		return
	}
	// Building (the node's UTXOs) and sending are bounded apart, so an
	// attempt ends well within its lease (2 × callbackTimeout < callbackLease).
	bctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	body, err := s.callbackBody(bctx, t)
	cancel()
	if ctx.Err() != nil {
		s.releaseCallback(ctx, o) // shutting down: nothing was sent
		return
	}
	if errors.Is(err, errUTXOLookup) {
		// The node may answer next time: a failed attempt, never a
		// compliance record without the UTXOs for want of them.
		s.callbackFailed(ctx, o, o.attempts+1, storableText(err.Error(), callbackExcerpt), 0)
		return
	}
	if err != nil {
		s.log.Warn("post-transaction callback not built", "transaction", t.ID, "err", err)
		s.recordCallback(ctx, o, callbackDead, o.attempts, 0, vaspd.Truncate(err.Error(), 200))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	a := s.postCallback(cctx, t.Details.UtxoCallback, body)
	cancel()
	n := o.attempts + 1
	switch {
	case a.err == nil && a.status/100 == 2:
		s.recordCallback(ctx, o, callbackSent, n, 0, "") // even if stopping: it was sent
		return
	case a.err == nil && callbackFinal(a.status):
		// Logged once: the callback is never tried again. Not its URL,
		// whose query may carry the receiver's token.
		s.log.Warn("post-transaction callback refused by the receiver; not sent again",
			"transaction", t.ID, "attempts", n, "status", a.status, "err", a.why())
		s.recordCallback(ctx, o, callbackRefused, n, 0, a.why())
		return
	case errors.Is(a.err, ssrf.ErrRefused):
		// Our SSRF guard refused the URL's host (a loopback or private
		// address counterparty-allow-nets does not open): every attempt
		// goes to the same URL and meets the same guard, so it is final,
		// as a receiver's refusal is, not 3 days of retries.
		s.log.Warn("post-transaction callback not sent: its host is at a non-public address; not tried again",
			"transaction", t.ID, "err", a.why())
		s.recordCallback(ctx, o, callbackRefused, n, 0, storableText("not sent: "+s.callFailure(a.err, 0), callbackExcerpt))
		return
	case ctx.Err() != nil:
		// Shutting down: the attempt was cut short and has ended, so
		// hand the callback back rather than keep every process off it
		// for the rest of the lease. The counterparty may have got it;
		// a resend is what a lost answer brings anyway.
		s.releaseCallback(ctx, o)
		return
	}
	s.callbackFailed(ctx, o, n, a.why(), a.retryAfter)
}

// callbackFailed records o's n-th attempt as failed for why: retried on
// the schedule, no sooner than retryAfter, or dead past the window.
func (s *Service) callbackFailed(ctx context.Context, o owedCallback, n int, why string, retryAfter time.Duration) {
	t := o.t
	completed := t.UpdatedAt
	if !t.SettledAt.IsZero() {
		completed = t.SettledAt
	}
	if next, dead := callbackPolicy.Next(n, completed, s.clock.Now(), retryAfter); dead {
		s.log.Error("post-transaction callback given up", "transaction", t.ID, "attempts", n, "err", why)
		s.recordCallback(ctx, o, callbackDead, n, 0, why)
	} else {
		s.log.Warn("post-transaction callback failed", "transaction", t.ID, "attempt", n, "err", why, "retry_at", next)
		s.recordCallback(ctx, o, callbackPending, n, store.Micros(next), why)
	}
}

// callbackFinal reports whether a receiver's status refuses a callback for
// good, so that trying again is pointless: a 4xx judges the request itself
// (its body, its signature, the transaction it names, the URL), and every
// attempt sends the same callback, signed the same way, to the same URL.
// This covers 400/401 (unparsable, bad signature), 403 (not allowed, such
// as vaspd's cap of MaxUtxoCallbacks per payment), 404 (REQUEST_NOT_FOUND:
// the receiver does not know the transaction), 405, 409, 410, 412, 413,
// 415, 422 and any other 4xx, except those that speak of the moment rather
// than the request:
//   - 408 Request Timeout and 425 Too Early: try again later, they say;
//   - 421 Misdirected Request: a connection's fault, a new one may do;
//   - 424 Failed Dependency: in UMA, COUNTERPARTY_PUBKEY_FETCH_ERROR and
//     the like, the receiver could not fetch our keys, which it does again
//     on the next attempt;
//   - 429 Too Many Requests: throttling (with Retry-After, honoured).
//
// One 5xx is final too: 501 Not Implemented, the receiver saying it does
// not implement the endpoint or method (UMA's NOT_IMPLEMENTED): retrying
// for 3 days would only send it the same request again some 80 times.
// Other 5xx speak of the server's state, not of the request, and are
// retried; 505 HTTP Version Not Supported among them, though our client
// would send the same version again: it speaks of the HTTP transport (a
// proxy in front, its configuration), which can change without the
// callback changing, and costs little to retry.
//
// Everything else that is not a 2xx is retried on the schedule: no answer,
// the other 5xx, and 3xx (redirects are never followed, as with the webhooks, so a
// moved endpoint is a failure until its URL works again).
func callbackFinal(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusMisdirectedRequest, http.StatusFailedDependency,
		http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	case http.StatusNotImplemented:
		return true
	}
	return status >= 400 && status < 500
}

// callbackAnswer is what a callback's receiver answered.
type callbackAnswer struct {
	status     int    // 0 = no answer
	body       string // its start, storable
	err        error  // no answer, or an unreadable one
	retryAfter time.Duration
}

// callbackExcerpt bounds what of an answer's body (an error JSON, at best)
// is kept in callback_error and logged.
const callbackExcerpt = 200

// why is the answer as callback_error keeps it.
func (a callbackAnswer) why() string {
	switch {
	case a.err != nil:
		return storableText(a.err.Error(), callbackExcerpt)
	case a.body != "":
		return fmt.Sprintf("HTTP %d: %s", a.status, a.body)
	}
	return fmt.Sprintf("HTTP %d", a.status)
}

// postCallback POSTs a callback body to u and reads the start of the answer.
func (s *Service) postCallback(ctx context.Context, u string, body []byte) callbackAnswer {
	resp, err := s.roundTrip(s.call(ctx, "utxo_callback"), http.MethodPost, u, body)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text quotes the URL, which may carry a token
		}
		return callbackAnswer{err: err}
	}
	defer resp.Body.Close()
	a := callbackAnswer{status: resp.StatusCode, retryAfter: callbackPolicy.RetryAfter(resp.StatusCode, resp.Header, s.clock.Now())}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4*callbackExcerpt))
	if err != nil && a.status/100 != 2 {
		// A 2xx is an acceptance whatever follows it; anything else whose
		// body broke off is no clear answer.
		a.err = fmt.Errorf("HTTP %d, then reading the answer: %w", a.status, err)
	}
	// A little more is drained so the connection can be reused, never much.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.body = storableText(strings.TrimSpace(string(b)), callbackExcerpt)
	return a
}

// storableText is s as a TEXT column takes it, at most n bytes and "…":
// a receiver's bytes may be anything, and PostgreSQL refuses NUL and
// invalid UTF-8 (an outcome it refused would leave the callback claimed
// again at every lease's end).
func storableText(s string, n int) string {
	return vaspd.Truncate(vaspd.Storable(s), n)
}

// recordCallback stores an attempt's outcome if o's claim still holds; if
// that fails the lease runs out and the callback is tried again.
func (s *Service) recordCallback(ctx context.Context, o owedCallback, state string, attempts int, next int64, why string) {
	res, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE uma_transactions
		SET callback_state = $1, callback_attempts = $2, callback_next_at = $3, callback_error = $4
		WHERE id = $5 AND callback_state = $6 AND callback_next_at = $7`,
		state, attempts, next, why, o.t.ID, callbackPending, o.lease)
	if err != nil {
		s.log.Warn("record post-transaction callback", "transaction", o.t.ID, "err", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s.log.Warn("post-transaction callback attempt outlived its lease; its outcome is not recorded",
			"transaction", o.t.ID, "outcome", state)
	}
}

// releaseCallback makes o's callback due now again, its attempt not
// counted, if o's claim still holds (callback_next_at is the lease it set:
// one another process claimed since is left to it); see releaseOwed.
func (s *Service) releaseCallback(ctx context.Context, o owedCallback) {
	if err := releaseOwed(ctx, s.db, "callback", s.clock.Now(), o.lease, o.t.ID); err != nil {
		s.log.Warn("post-transaction callback not handed back; its lease will end", "transaction", o.t.ID, "err", err)
	}
}

// errUTXOLookup is a callback not built because the node's UTXOs for its
// payment could not be looked up (the node unreachable, timed out…).
var errUTXOLookup = errors.New("UTXO lookup failed")

// callbackBody is t's signed callback: as the sender, the UTXOs that paid;
// as the receiver, the UTXOs that were paid (no reference VASP does this
// side).
func (s *Service) callbackBody(ctx context.Context, t Transaction) ([]byte, error) {
	hash, err := lightning.ParseHash(t.PaymentHash)
	if err != nil {
		return nil, err
	}
	utxos, err := s.opt.Node.UTXOs(ctx, hash)
	switch {
	case errors.Is(err, lightning.ErrNotFound):
		// The node keeps no UTXOs for this payment (lnd, for one it
		// received), and never will: asking again changes nothing, so the
		// callback says none, as the Node contract allows.
		s.log.Debug("no UTXOs known for callback", "transaction", t.ID, "err", err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errUTXOLookup, err)
	}
	cb := &uma.PostTransactionCallback{VaspDomain: s.opt.Domain, TransactionStatus: uma.TransactionCompleted, Utxos: []uma.UtxoWithAmount{}}
	for _, u := range utxos {
		cb.Utxos = append(cb.Utxos, uma.UtxoWithAmount{Utxo: u.Outpoint, AmountMsats: u.AmountMsat})
	}
	cb.Sign(s.opt.Keys.Signing, s.clock.Now())
	return json.Marshal(cb)
}
