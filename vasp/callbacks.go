package vasp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
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
// (releaseCallback). Each attempt is signed afresh (the counterparty checks the
// timestamp). The payment is final whatever happens here.

// Callback states.
const (
	callbackPending = "pending" // owed once the transaction is COMPLETED
	callbackSent    = "sent"
	callbackNone    = "none" // the counterparty gave no callback URL
	callbackDead    = "dead" // retried for the whole window
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
// capped at 1 h, ±10 %, for 3 days after the payment completed.
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
	// Building (the node's UTXOs) and sending are bounded apart, so an
	// attempt ends well within its lease (2 × callbackTimeout < callbackLease).
	bctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	body, err := s.callbackBody(bctx, t)
	cancel()
	if err != nil {
		s.log.Warn("post-transaction callback not built", "transaction", t.ID, "err", err)
		s.recordCallback(ctx, o, callbackDead, o.attempts, 0, vaspd.Truncate(err.Error(), 200))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	status, _, err := s.fetch(cctx, http.MethodPost, t.Details.UtxoCallback, body)
	cancel()
	n := o.attempts + 1
	if err == nil && status/100 == 2 {
		s.recordCallback(ctx, o, callbackSent, n, 0, "") // even if stopping: it was sent
		return
	}
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short and has ended, so
		// hand the callback back rather than keep every process off it
		// for the rest of the lease. The counterparty may have got it;
		// a resend is what a lost answer brings anyway.
		s.releaseCallback(ctx, o)
		return
	}
	why := fmt.Sprintf("HTTP %d", status)
	if err != nil {
		why = vaspd.Truncate(err.Error(), 200)
	}
	completed := t.UpdatedAt
	if !t.SettledAt.IsZero() {
		completed = t.SettledAt
	}
	if next, dead := callbackPolicy.Next(n, completed, s.clock.Now()); dead {
		s.log.Error("post-transaction callback given up", "transaction", t.ID, "attempts", n, "err", why)
		s.recordCallback(ctx, o, callbackDead, n, 0, why)
	} else {
		s.log.Warn("post-transaction callback failed", "transaction", t.ID, "attempt", n, "err", why, "retry_at", next)
		s.recordCallback(ctx, o, callbackPending, n, store.Micros(next), why)
	}
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
// one another process claimed since is left to it). It runs on a short
// context of its own, ctx having ended; if it fails, the lease ends.
func (s *Service) releaseCallback(ctx context.Context, o owedCallback) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `UPDATE uma_transactions SET callback_next_at = $1
		WHERE id = $2 AND callback_state = $3 AND callback_next_at = $4`,
		store.Micros(s.clock.Now()), o.t.ID, callbackPending, o.lease); err != nil {
		s.log.Warn("post-transaction callback not handed back; its lease will end", "transaction", o.t.ID, "err", err)
	}
}

// callbackBody is t's signed callback: as the sender, the UTXOs that paid;
// as the receiver, the UTXOs that were paid (no reference VASP does this
// side).
func (s *Service) callbackBody(ctx context.Context, t Transaction) ([]byte, error) {
	hash, err := lightning.ParseHash(t.PaymentHash)
	if err != nil {
		return nil, err
	}
	utxos, err := s.opt.Node.UTXOs(ctx, hash)
	if err != nil {
		s.log.Debug("no UTXOs for callback", "transaction", t.ID, "err", err)
	}
	cb := &uma.PostTransactionCallback{VaspDomain: s.opt.Domain, TransactionStatus: uma.TransactionCompleted, Utxos: []uma.UtxoWithAmount{}}
	for _, u := range utxos {
		cb.Utxos = append(cb.Utxos, uma.UtxoWithAmount{Utxo: u.Outpoint, AmountMsats: u.AmountMsat})
	}
	cb.Sign(s.opt.Keys.Signing, s.clock.Now())
	return json.Marshal(cb)
}
