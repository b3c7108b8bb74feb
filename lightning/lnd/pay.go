package lnd

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd/internal/rest"
	"github.com/vaspd/vaspd/store"
)

// Pay pays a BOLT11 invoice with SendPaymentV2. The payment is recorded as
// IN_FLIGHT before lnd sees it; paying an invoice already paid or in flight
// returns that payment without sending again (a FAILED one is retried).
//
// An invoice that cannot be paid as given is an error (ErrInvalidInvoice,
// ErrWrongNetwork, ErrInvoiceExpired, ErrAmountMismatch) and records
// nothing; so is one whose payment hash is recorded for another invoice
// (ErrInvalidInvoice). Otherwise Pay returns the payment and a nil error when it is
// final — SUCCEEDED, or FAILED with a typed FailureReason — or, with Status
// IN_FLIGHT, when req.Timeout passes first. Errors then mean vaspd could not
// learn the outcome (lnd unreachable); the payment is tracked later.
func (n *Node) Pay(ctx context.Context, req lightning.PayRequest) (_ lightning.Payment, err error) {
	defer n.safe(&err)
	// lnd reads the bare BOLT11 string only: the invoice is handed to it,
	// and recorded, as vaspd reads it (without surrounding space or a
	// "lightning:" scheme, lower case), or one vaspd quoted would be
	// refused as invalid here.
	req.Invoice = lightning.NormalizeInvoice(req.Invoice)
	if req.Invoice == "" {
		return lightning.Payment{}, fmt.Errorf("lnd pay: empty invoice: %w", lightning.ErrInvalidInvoice)
	}
	if req.AmountMsat < 0 || req.MaxFeeMsat < 0 {
		return lightning.Payment{}, fmt.Errorf("lnd pay: negative amount or fee limit")
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = n.opts.PayTimeout
	}
	info, err := n.Info(ctx)
	if err != nil {
		return lightning.Payment{}, err
	}
	pr, err := n.decode(ctx, req.Invoice)
	if err != nil {
		return lightning.Payment{}, err
	}
	amount := pr.amountMsat
	switch {
	case amount > 0 && req.AmountMsat != 0 && req.AmountMsat != amount:
		return lightning.Payment{}, fmt.Errorf("lnd pay: invoice is for %d msat, request says %d: %w", amount, req.AmountMsat, lightning.ErrAmountMismatch)
	case amount == 0 && req.AmountMsat == 0:
		return lightning.Payment{}, fmt.Errorf("lnd pay: zero-amount invoice needs an amount: %w", lightning.ErrAmountMismatch)
	case amount == 0 && req.AmountMsat > lightning.MaxAmountMsat:
		return lightning.Payment{}, fmt.Errorf("lnd pay: amount %d msat out of range: %w", req.AmountMsat, lightning.ErrAmountMismatch)
	case amount == 0:
		amount = req.AmountMsat
	}

	// Already paid or being paid by this node: report that payment, even if
	// the invoice has expired since. Under this hash only the invoice
	// recorded for it may be paid (or, after a failure, paid again).
	rec, err := getRecord(ctx, n.db, info.PubKey, pr.hash)
	switch {
	case err == nil && !lightning.SameInvoice(rec.PaymentRequest, req.Invoice):
		return lightning.Payment{}, errOtherInvoice(pr.hash)
	case err == nil && rec.Status != lightning.StatusFailed:
		return n.await(ctx, info.PubKey, rec, timeout)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return lightning.Payment{}, err
	}
	if !n.clock.Now().Before(pr.expiresAt) {
		return lightning.Payment{}, fmt.Errorf("lnd pay: invoice expired at %s: %w", pr.expiresAt.Format(time.RFC3339), lightning.ErrInvoiceExpired)
	}
	maxFee := n.opts.MaxFeeMsat
	if req.MaxFeeMsat > 0 && req.MaxFeeMsat < maxFee {
		maxFee = req.MaxFeeMsat
	}

	p := lightning.Payment{PaymentHash: pr.hash, PaymentRequest: req.Invoice, Destination: pr.destination, AmountMsat: amount}
	rec, claimed, err := n.claim(ctx, info.PubKey, p, maxFee)
	if err != nil {
		return lightning.Payment{}, err
	}
	if !claimed {
		return n.await(ctx, info.PubKey, rec, timeout)
	}
	return n.send(ctx, info.PubKey, rec, pr.amountMsat == 0, timeout)
}

// send hands a claimed payment to lnd and follows it until final or timeout.
func (n *Node) send(ctx context.Context, node string, rec record, zeroAmount bool, timeout time.Duration) (lightning.Payment, error) {
	// lnd keeps trying routes for timeout_seconds; that is independent of
	// how long we wait, and never shorter than the configured pay timeout.
	// Whole seconds, rounded up (without adding to lndTimeout, which may
	// be as long as a time.Duration holds), at most an hour.
	lndTimeout := max(timeout, n.opts.PayTimeout)
	secs := int64(lndTimeout / time.Second)
	if lndTimeout%time.Second != 0 {
		secs++
	}
	body := map[string]any{
		"payment_request":     lightning.NormalizeInvoice(rec.PaymentRequest), // a record from before Pay normalized it
		"fee_limit_msat":      strconv.FormatInt(rec.MaxFeeMsat, 10),
		"timeout_seconds":     int32(min(secs, 3600)),
		"no_inflight_updates": false, // the first update confirms lnd has the payment
	}
	if zeroAmount {
		body["amt_msat"] = strconv.FormatInt(rec.AmountMsat, 10)
	}
	// Handing the payment to lnd is bounded by RequestTimeout, not by
	// timeout: a short timeout means "do not wait for the result", never
	// "perhaps do not send". lnd's first stream message confirms it has
	// registered the payment; timeout runs from then. (TrackPayment relies
	// on this bound: UnknownPaymentGrace is longer.)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		final *wirePayment
		err   error
	}
	done := make(chan result, 1)
	accepted := make(chan struct{})
	go func() {
		var final *wirePayment
		first := true
		err := n.rest.Stream(sctx, http.MethodPost, "/v2/router/send", body, func(raw json.RawMessage) (bool, error) {
			if first {
				first = false
				close(accepted)
			}
			var w wirePayment
			if err := json.Unmarshal(raw, &w); err != nil {
				return true, fmt.Errorf("lnd send: decode payment: %w", err)
			}
			if w.Status == "SUCCEEDED" || w.Status == "FAILED" {
				final = &w
				return true, nil
			}
			return false, nil
		})
		done <- result{final, err}
	}()
	var res result
	var waitUntil time.Time // when the wait for the result is over, once lnd has the payment
	acceptTimer := time.NewTimer(n.opts.RequestTimeout)
	defer acceptTimer.Stop()
	select {
	case res = <-done:
	case <-accepted:
		waitUntil = time.Now().Add(timeout)
		waitTimer := time.NewTimer(timeout)
		defer waitTimer.Stop()
		select {
		case res = <-done:
		case <-waitTimer.C:
			res.err = errWaitOver
		case <-ctx.Done():
			res.err = ctx.Err()
		}
	case <-acceptTimer.C:
		res.err = fmt.Errorf("lnd did not acknowledge the payment within %s: %w", n.opts.RequestTimeout, context.DeadlineExceeded)
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	cancel()
	acked := false // lnd has registered this attempt (its first message)
	select {
	case <-accepted:
		acked = true
		if waitUntil.IsZero() { // its stream ended before we looked
			waitUntil = time.Now().Add(timeout)
		}
	default:
	}
	final, err := res.final, res.err
	if final != nil {
		return n.finish(ctx, node, rec, *final)
	}
	var lndErr *rest.Error
	if errors.As(err, &lndErr) {
		// lnd answered with an error. If it knows a payment for this hash
		// (already paid, or in transition), that payment is the answer;
		// otherwise, if the answer is lnd's refusal (refusedSend),
		// nothing was sent and the attempt failed.
		w, terr := n.trackAttempt(ctx, rec, acked)
		if terr == nil {
			return n.followKnown(ctx, node, rec, w, timeout)
		}
		if !rest.IsNotFound(terr) {
			return rec.Payment, n.wrap("send", fmt.Errorf("%w (and track: %v)", err, terr))
		}
		if acked || !refusedSend(lndErr) {
			// Not lnd refusing: lnd may have the payment and register
			// it after our look — or registered it already (acked: an
			// error after lnd's first message ends a stream, it does not
			// take back the payment; a track that then misses it is
			// lnd's or a proxy's fault). The record stays in flight,
			// for TrackPayment and its grace rule.
			return rec.Payment, n.wrap("send", err)
		}
		reason, sentinel := sendRefusal(lndErr.Message)
		rec.Status, rec.FailureReason = lightning.StatusFailed, reason
		if sentinel != nil {
			// The invoice cannot be paid as given: an error, and no
			// payment left behind (nothing was sent).
			if rerr := n.unclaim(context.WithoutCancel(ctx), node, rec); rerr != nil {
				return lightning.Payment{}, rerr
			}
			return lightning.Payment{}, fmt.Errorf("lnd send: %w: %w", sentinel, err)
		}
		if rerr := n.resolve(context.WithoutCancel(ctx), node, rec.Payment); rerr != nil {
			return rec.Payment, rerr
		}
		return rec.Payment, nil
	}
	// Timeout, cancellation or a transport failure: lnd may well be paying.
	// Report the freshest state we can get; TrackPayment resolves it later.
	tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer tcancel()
	if w, terr := n.trackAttempt(tctx, rec, acked); terr == nil {
		if left := time.Until(waitUntil); acked && left > 0 && ctx.Err() == nil && !errors.Is(err, errWaitOver) {
			// The stream ended (a proxy's idle timeout, lnd's REST
			// proxy restarting) with lnd paying: the wait is not over,
			// and the payment is followed for the rest of it.
			p, ferr := n.followKnown(ctx, node, rec, w, left)
			if ferr == nil || ctx.Err() == nil {
				return p, ferr
			}
			// The caller's context ended first: as when it ends with
			// the send stream up, the payment's state, no error.
			fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer fcancel()
			if w, terr := n.trackAttempt(fctx, rec, acked); terr == nil {
				return n.finish(fctx, node, rec, w)
			}
			return p, ferr
		}
		return n.finish(tctx, node, rec, w)
	}
	if ctx.Err() != nil {
		return rec.Payment, ctx.Err()
	}
	if errors.Is(err, errWaitOver) { // the payment is the caller's to track
		return rec.Payment, nil
	}
	return rec.Payment, n.wrap("send", err)
}

// errWaitOver: lnd has the payment, but PayRequest.Timeout passed first.
var errWaitOver = errors.New("pay timeout passed; payment in flight")

// refusedSend reports whether an error answer to SendPaymentV2 is lnd
// refusing to start the payment, the only answer that proves nothing was
// sent (with TrackPaymentV2 not knowing the hash). lnd refuses with a gRPC
// status: Unknown for its plain errors, InvalidArgument, FailedPrecondition
// and the like. Not refusals: an answer without a gRPC status (a reverse
// proxy's or the gateway's own error page: 502, 504, …); the statuses a
// call gets when it broke on its way or in its handler — Canceled,
// DeadlineExceeded, ResourceExhausted, Aborted, Internal, Unavailable (lnd's
// REST proxy unable to reach its gRPC server), DataLoss — after which lnd
// may still register the payment; and "already paid" or "in flight" for a
// payment lnd does not show (lnd's own record says it has it).
func refusedSend(e *rest.Error) bool {
	if !lndAnswered(e) {
		return false
	}
	m := strings.ToLower(e.Message)
	return !strings.Contains(m, "already") && !strings.Contains(m, "in transition") && !strings.Contains(m, "in flight")
}

// lndAnswered reports whether an error answer is lnd's own verdict on the
// call, rather than the call breaking on its way to lnd or inside it: no
// gRPC status (a proxy's or the gateway's own page), a 502/503/504, one
// of the statuses of a broken call (Canceled, DeadlineExceeded,
// ResourceExhausted, Aborted, Internal, Unavailable, DataLoss), lnd not
// ready for calls (notReady), or lnd refusing the macaroon (without the
// permission the call needs: the operator's configuration). Only a
// verdict proves anything about the request itself.
func lndAnswered(e *rest.Error) bool {
	if notReady(e) || rest.IsMacaroonRefused(e) {
		return false // lnd's interceptor, before the call reached its handler
	}
	switch e.Code {
	case 0, 1, 4, 8, 10, 13, 14, 15:
		return false
	}
	switch e.HTTPStatus {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false
	}
	return true
}

// sendRefusal classifies an error lnd returned instead of starting a
// payment (nothing was sent). A payment the node cannot make is a FAILED
// payment with a reason (sentinel nil); an invoice that cannot be paid as
// given is an error (sentinel set) and leaves no payment.
func sendRefusal(msg string) (lightning.FailureReason, error) {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "expired"):
		return lightning.FailureError, lightning.ErrInvoiceExpired
	case strings.Contains(m, "insufficient"):
		return lightning.FailureInsufficientBalance, nil
	case strings.Contains(m, "self-payment"), strings.Contains(m, "self payment"), strings.Contains(m, "route"):
		return lightning.FailureNoRoute, nil
	default:
		return lightning.FailureError, lightning.ErrInvalidInvoice
	}
}

// await waits, up to timeout, for a payment some earlier call started.
func (n *Node) await(ctx context.Context, node string, rec record, timeout time.Duration) (lightning.Payment, error) {
	if rec.Status != lightning.StatusInFlight {
		return rec.Payment, nil
	}
	// Another call claimed it and is handing it to lnd, or did so and died:
	// wait (up to timeout) for lnd to know it, then follow it.
	deadline := time.Now().Add(timeout)
	var w wirePayment
	for {
		var err error
		w, err = n.trackAttempt(ctx, rec, false)
		if err == nil {
			break
		}
		if !rest.IsNotFound(err) {
			return rec.Payment, n.wrap("track", err)
		}
		if cur, err := getRecord(ctx, n.db, node, rec.PaymentHash); err == nil && cur.Status != lightning.StatusInFlight {
			return cur.Payment, nil
		}
		if time.Now().After(deadline) {
			return n.TrackPayment(ctx, rec.PaymentHash) // the grace rule decides
		}
		select {
		case <-ctx.Done():
			return rec.Payment, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return n.followKnown(ctx, node, rec, w, timeout)
}

// followKnown continues from a payment lnd reported: final → store it; in
// flight → follow the track stream until final or timeout.
func (n *Node) followKnown(ctx context.Context, node string, rec record, w wirePayment, timeout time.Duration) (lightning.Payment, error) {
	if w.Status == "SUCCEEDED" || w.Status == "FAILED" {
		return n.finish(ctx, node, rec, w)
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var final *wirePayment
	err := n.rest.Stream(sctx, http.MethodGet, trackPath(rec.PaymentHash, true), nil, func(raw json.RawMessage) (bool, error) {
		var w wirePayment
		if err := json.Unmarshal(raw, &w); err != nil {
			return true, fmt.Errorf("lnd track: decode payment: %w", err)
		}
		if w.Status == "SUCCEEDED" || w.Status == "FAILED" {
			final = &w
			return true, nil
		}
		return false, nil
	})
	if final != nil {
		return n.finish(ctx, node, rec, *final)
	}
	if sctx.Err() != nil && ctx.Err() == nil {
		return n.convert(rec, w) // still in flight after timeout
	}
	if ctx.Err() != nil {
		return rec.Payment, ctx.Err()
	}
	return rec.Payment, n.wrap("track", err)
}

// finish converts lnd's payment, stores a final state and returns it.
func (n *Node) finish(ctx context.Context, node string, rec record, w wirePayment) (lightning.Payment, error) {
	p, err := n.convert(rec, w)
	if err != nil {
		return rec.Payment, err
	}
	if p.Status != lightning.StatusInFlight {
		// The result must be stored even if the caller's ctx just ended.
		if err := n.resolve(context.WithoutCancel(ctx), node, p); err != nil {
			return p, err
		}
	}
	return p, nil
}

// convert merges lnd's view of a payment into our record. On an error the
// record is returned as it was: nothing of an answer that failed its checks
// is kept.
func (n *Node) convert(rec record, w wirePayment) (lightning.Payment, error) {
	p, err := n.convertChecked(rec, w)
	if err != nil {
		n.noteFeeAboveLimit(err)
		return rec.Payment, err
	}
	return p, nil
}

func (n *Node) convertChecked(rec record, w wirePayment) (lightning.Payment, error) {
	p := rec.Payment
	if w.PaymentHash != "" {
		h, err := hexHash("payment_hash", w.PaymentHash)
		if err != nil {
			return p, err
		}
		if h != rec.PaymentHash {
			return p, fmt.Errorf("lnd: tracked payment %s answered for %s", rec.PaymentHash, h)
		}
	}
	status, err := paymentStatus(w.Status)
	if err != nil {
		return p, err
	}
	p.Status = status
	if p.PaymentRequest == "" {
		p.PaymentRequest = w.PaymentRequest
	}
	// The amount paid (fees apart) and the fee, both checked: the fee is
	// booked as the payment's cost.
	v, err := msatAmount("value_msat", w.ValueMsat)
	if err != nil {
		return p, err
	}
	if err := sameAmount("value_sat", w.ValueSat, "value_msat", v); err != nil {
		return p, err
	}
	switch {
	case v > 0 && p.AmountMsat > 0 && v != p.AmountMsat && status == lightning.StatusFailed:
		// A failed payment moved nothing, and a failure for another
		// amount is an earlier attempt's (a zero-amount invoice retried
		// for another amount, whose retry never reached lnd: see
		// trackAttempt). The amount recorded stands.
	case v > 0 && p.AmountMsat > 0 && v != p.AmountMsat:
		// We asked lnd to pay p.AmountMsat (the invoice's, or ours for
		// a zero-amount invoice): lnd pays exactly that or nothing.
		return p, fmt.Errorf("lnd: field value_msat: payment of %d msat reported as %d msat", p.AmountMsat, v)
	case v > 0:
		p.AmountMsat = v
	}
	if p.FeeMsat, err = msatAmount("fee_msat", w.FeeMsat); err != nil {
		return p, err
	}
	if err := sameAmount("fee_sat", w.FeeSat, "fee_msat", p.FeeMsat); err != nil {
		return p, err
	}
	if rec.MaxFeeMsat > 0 && p.FeeMsat > rec.MaxFeeMsat {
		// lnd was told fee_limit_msat: it pays no more (a payment
		// vaspd never sent, found by TrackPayment, has no limit).
		return p, &feeAboveLimit{hash: rec.PaymentHash, status: status, fee: p.FeeMsat, limit: rec.MaxFeeMsat}
	}
	if created, err := num("creation_time_ns", w.CreationTimeNs); err == nil && p.CreatedAt.IsZero() {
		p.CreatedAt = unixNanos(created)
	}
	p.FailureReason = lightning.FailureNone
	p.Preimage = lightning.Hash{}
	p.ResolvedAt = time.Time{}
	switch status {
	case lightning.StatusSucceeded:
		if p.Preimage, err = hexHash("payment_preimage", w.PaymentPreimage); err != nil {
			return p, err
		}
		// The preimage is the proof of payment: a success without it is
		// not one we can stand behind (nor store as final).
		if sha256.Sum256(p.Preimage[:]) != p.PaymentHash {
			return rec.Payment, fmt.Errorf("lnd: payment %s reported SUCCEEDED without its preimage", p.PaymentHash)
		}
	case lightning.StatusFailed:
		// A failure always has a reason: lnd's, or ERROR where it gave
		// none (FAILURE_REASON_NONE, or no field): the caller reports it
		// (an outgoing payment's webhook failureReason).
		if p.FailureReason = failureReason(w.FailureReason); p.FailureReason == lightning.FailureNone {
			p.FailureReason = lightning.FailureError
		}
	}
	if status != lightning.StatusInFlight {
		var last int64
		for _, h := range w.Htlcs {
			if t, err := num("resolve_time_ns", h.ResolveTimeNs); err == nil && t > last {
				last = t
			}
		}
		p.ResolvedAt = unixNanos(last)
		if p.ResolvedAt.IsZero() {
			p.ResolvedAt = n.clock.Now().UTC()
		}
	}
	return p, nil
}

// payReq is what Pay needs from a decoded invoice.
type payReq struct {
	hash        lightning.Hash
	destination string
	amountMsat  int64
	expiresAt   time.Time
}

// decode asks lnd to decode (and verify) a BOLT11 string. lnd checks the
// signature and that the invoice is for its own network.
func (n *Node) decode(ctx context.Context, bolt11 string) (payReq, error) {
	var w wirePayReq
	if err := n.rest.Do(ctx, http.MethodGet, "/v1/payreq/"+url.PathEscape(strings.TrimSpace(bolt11)), nil, &w); err != nil {
		var le *rest.Error
		// Only lnd's verdict says the invoice is bad: a call that broke
		// (lnd restarting, a proxy timing out) says nothing about it, and
		// calling it invalid would fail the payment for good over a
		// moment's outage. n.wrap makes it an outcome-unknown error, so
		// the payment stays reserved and the resolver sends it later.
		if errors.As(err, &le) && lndAnswered(le) {
			if strings.Contains(le.Message, "network") {
				return payReq{}, fmt.Errorf("lnd decodepayreq: %s: %w", le.Message, lightning.ErrWrongNetwork)
			}
			return payReq{}, fmt.Errorf("lnd decodepayreq: %s: %w", le.Message, lightning.ErrInvalidInvoice)
		}
		return payReq{}, n.wrap("decodepayreq", err)
	}
	h, err := hexHash("payment_hash", w.PaymentHash)
	if err != nil || h.IsZero() {
		return payReq{}, fmt.Errorf("lnd decodepayreq: bad payment_hash: %w", lightning.ErrInvalidInvoice)
	}
	amt, err := msatAmount("num_msat", w.NumMsat)
	if err == nil {
		err = sameAmount("num_satoshis", w.NumSatoshis, "num_msat", amt)
	}
	if err != nil {
		return payReq{}, fmt.Errorf("lnd decodepayreq: %w: %w", err, lightning.ErrInvalidInvoice)
	}
	ts, err1 := num("timestamp", w.Timestamp)
	exp, err2 := num("expiry", w.Expiry)
	if err1 != nil || err2 != nil {
		return payReq{}, fmt.Errorf("lnd decodepayreq: bad timestamp or expiry: %w", lightning.ErrInvalidInvoice)
	}
	// Beyond a year (lightning.MaxInvoiceExpiry, as bolt11.Decode) an invoice is refused, and
	// exp × time.Second would wrap.
	if exp < 0 || exp > int64(lightning.MaxInvoiceExpiry/time.Second) {
		return payReq{}, fmt.Errorf("lnd decodepayreq: expiry %d s out of range (0 to %d): %w", exp, int64(lightning.MaxInvoiceExpiry/time.Second), lightning.ErrInvalidInvoice)
	}
	return payReq{hash: h, destination: w.Destination, amountMsat: amt, expiresAt: unixSeconds(ts).Add(time.Duration(exp) * time.Second)}, nil
}
