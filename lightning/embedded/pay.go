package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// Pay pays a BOLT11 invoice.
//
// Before any money moves it checks the invoice: a mainnet invoice is
// refused (ErrMainnetNotAllowed), as are invoices for another network
// (ErrWrongNetwork), with a bad signature or encoding, or requiring a
// feature bit the node does not support (ErrInvalidInvoice),
// expired (ErrInvoiceExpired) or with an amount that does not fit the request
// (ErrAmountMismatch). Those return an error and record nothing.
//
// Otherwise the payment is recorded IN_FLIGHT with amount and fee debited in
// one transaction (or recorded FAILED: NO_ROUTE when no peer serves the payee
// or the fee exceeds MaxFeeMsat, INSUFFICIENT_BALANCE when the balance does
// not cover it), and only then delivered. Pay returns the payment, with a nil
// error, once it is SUCCEEDED or FAILED, or IN_FLIGHT when req.Timeout passes.
//
// Paying a hash this node already paid or is paying returns that payment; a
// FAILED payment is attempted again. An invoice other than the one recorded
// for its payment hash is refused (ErrInvalidInvoice, see
// lightning.SameInvoice), whatever the recorded payment's state.
func (n *Node) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	p, _, err := n.pay(ctx, req, false)
	return p, err
}

// PaySuccessInto is Pay for a caller that books the payment in a
// transaction of its own on the node's database (DB), so that the node's
// record of a success commits with the caller's booking instead of before
// it: one transaction less per payment.
//
// When the delivery attempt this call waits for learns the preimage, the
// node does not record the success; PaySuccessInto returns the payment as
// SUCCEEDED together with record, which the caller runs in the transaction
// that books it. Until that transaction commits the node's payment stays
// IN_FLIGHT. If it never commits (a crash, a rollback), the payment is
// resolved as any payment left in flight is: a later attempt asks the payee
// again, who answers with the same preimage (the payee's answer is
// idempotent per payer), and records the success. record is nil when the
// outcome was recorded otherwise (a failure, a payment to this node, an
// attempt made by another caller); it is a no-op once the payment is no
// longer IN_FLIGHT.
func (n *Node) PaySuccessInto(ctx context.Context, req lightning.PayRequest) (lightning.Payment, func(context.Context, *store.Tx) error, error) {
	return n.pay(ctx, req, true)
}

// pay is Pay; with take, a success is handed to the caller (PaySuccessInto).
func (n *Node) pay(ctx context.Context, req lightning.PayRequest, take bool) (lightning.Payment, func(context.Context, *store.Tx) error, error) {
	inv, err := n.decodeForPay(req.Invoice)
	if err != nil {
		return lightning.Payment{}, nil, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultPayTimeout
	}
	deadline := time.Now().Add(timeout)

	existing, ok := n.takeRecorded(inv.PaymentHash)
	if !ok {
		existing, err = n.loadPaymentRow(ctx, n.db, inv.PaymentHash)
	}
	switch {
	case err == nil && !lightning.SameInvoice(existing.PaymentRequest, req.Invoice):
		return lightning.Payment{}, nil, errOtherInvoice(inv.PaymentHash)
	case err == nil && existing.Status != lightning.StatusFailed:
		// Recorded already (by PreparePayment's caller, or another
		// payer of the same hash): wait from the row just read.
		return n.wait(ctx, inv.PaymentHash, deadline, &existing, take)
	case err != nil && !errors.Is(err, lightning.ErrNotFound):
		return lightning.Payment{}, nil, err
	}

	p, err := n.prepare(ctx, inv, req)
	if err != nil {
		return lightning.Payment{}, nil, err
	}
	if err := n.db.InTx(ctx, func(tx *store.Tx) error { return n.record(ctx, tx, p) }); err != nil {
		return lightning.Payment{}, nil, err
	}
	var recorded *paymentRow
	if row, ok := n.takeRecorded(inv.PaymentHash); ok {
		recorded = &row
	}
	return n.wait(ctx, inv.PaymentHash, deadline, recorded, take)
}

// PreparePayment checks req as Pay does (an invalid, expired or mismatched
// invoice is an error and nothing is recorded) and finds its route and fee,
// without recording anything. It returns the function that records the
// payment — IN_FLIGHT with its debit, or FAILED — in the caller's
// transaction tx on the node's database (DB), so that the caller's own
// record of the payment and the node's commit together. Once tx has
// committed, Pay with the same request delivers that payment and returns
// its result; if tx rolls back, nothing was recorded. A hash this node
// already paid or is paying is left as it is, as Pay does; one recorded
// for another invoice makes record fail (ErrInvalidInvoice).
//
// Routing may ask devnet peers over HTTP, which is why it happens here and
// not in the transaction.
func (n *Node) PreparePayment(ctx context.Context, req lightning.PayRequest) (record func(ctx context.Context, tx *store.Tx) error, err error) {
	inv, err := n.decodeForPay(req.Invoice)
	if err != nil {
		return nil, err
	}
	p, err := n.prepare(ctx, inv, req)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *store.Tx) error { return n.record(ctx, tx, p) }, nil
}

// preparedPayment is a checked payment, ready to be recorded.
type preparedPayment struct {
	inv         bolt11.Invoice
	pr          string
	amount, fee int64
	reason      lightning.FailureReason // set: recorded FAILED, nothing debited
}

// prepare checks the request against the decoded invoice and picks the fee.
func (n *Node) prepare(ctx context.Context, inv bolt11.Invoice, req lightning.PayRequest) (preparedPayment, error) {
	if inv.Expired(n.now()) {
		return preparedPayment{}, fmt.Errorf("embedded: %w (expired %s)", lightning.ErrInvoiceExpired, inv.ExpiresAt().Format(time.RFC3339))
	}
	amount := inv.AmountMsat
	switch {
	case amount == 0 && req.AmountMsat <= 0:
		return preparedPayment{}, fmt.Errorf("embedded: %w: invoice has no amount, request must give one", lightning.ErrAmountMismatch)
	case amount == 0:
		if req.AmountMsat > bolt11.MaxAmountMsat {
			return preparedPayment{}, fmt.Errorf("embedded: %w: amount out of range", lightning.ErrAmountMismatch)
		}
		amount = req.AmountMsat
	case req.AmountMsat != 0 && req.AmountMsat != amount:
		return preparedPayment{}, fmt.Errorf("embedded: %w: request %d msat, invoice %d msat", lightning.ErrAmountMismatch, req.AmountMsat, amount)
	}
	if req.MaxFeeMsat < 0 {
		return preparedPayment{}, errors.New("embedded: negative fee limit")
	}

	var (
		fee    int64
		reason lightning.FailureReason
	)
	if inv.Destination != n.pubkey {
		if _, ok := n.peers.lookup(ctx, inv.Destination); !ok {
			reason = lightning.FailureNoRoute
		} else if fee = n.fee(amount); fee > req.MaxFeeMsat {
			reason, fee = lightning.FailureNoRoute, 0
		}
	}
	return preparedPayment{inv: inv, pr: req.Invoice, amount: amount, fee: fee, reason: reason}, nil
}

// decodeForPay decodes and verifies an invoice this node is asked to pay.
func (n *Node) decodeForPay(pr string) (bolt11.Invoice, error) {
	network, err := bolt11.NetworkOf(pr)
	if err != nil {
		return bolt11.Invoice{}, fmt.Errorf("embedded: %w", err)
	}
	if network == bolt11.Mainnet {
		return bolt11.Invoice{}, fmt.Errorf("embedded: %w", lightning.ErrMainnetNotAllowed)
	}
	// The node remembers the invoices it decoded to pay (Node.decoded), so
	// that PreparePayment and the Pay that follows it verify the signature
	// once. A decoded invoice depends only on its text and the node's
	// network; whether it has expired is checked on every use. Its Features
	// are the caller's to keep: each side gets a copy.
	if inv, ok := n.decoded.get(pr); ok {
		inv.Features = slices.Clone(inv.Features)
		return inv, nil
	}
	inv, err := bolt11.Decode(pr, n.opts.Network)
	if err != nil {
		return bolt11.Invoice{}, fmt.Errorf("embedded: %w", err)
	}
	// Only invoices the node can pay are remembered: one that requires
	// a feature it lacks is refused here, every time, before anything is
	// recorded.
	if err := checkFeatures(inv); err != nil {
		return bolt11.Invoice{}, err
	}
	kept := inv
	kept.Features = slices.Clone(inv.Features)
	n.decoded.put(pr, kept)
	return inv, nil
}

// recordedPayment is the row of a payment this node has just recorded
// (inserted IN_FLIGHT, committed), kept (Node.recorded) so that the Pay
// that follows — PreparePayment's caller's, or Pay's own — starts from it
// instead of reading it back. It is taken once, and only within a second of
// its commit; should it be stale by then (another process already
// attempting or resolving the payment), the attempt's conditional claim
// finds nothing to do and the payment is read again, as after any attempt
// that ends without an answer.
type recordedPayment struct {
	row paymentRow
	at  time.Time
}

// takeRecorded returns the row of payment hash if this node recorded it
// within the last second.
func (n *Node) takeRecorded(hash lightning.Hash) (paymentRow, bool) {
	r, ok := n.recorded.take(hash)
	return r.row, ok && time.Since(r.at) < time.Second
}

// fee is the routing fee for a payment of amount to another node.
func (n *Node) fee(amount int64) int64 {
	// amount ≤ 2.1e18 and ppm ≤ 1e6 would overflow int64 as a product, so
	// divide first and add the remainder's share.
	ppm := n.opts.FeePPM
	return n.opts.FeeBaseMsat + amount/1_000_000*ppm + amount%1_000_000*ppm/1_000_000
}

// record writes the payment and debits amount+fee in tx. With
// a reason, the payment is recorded FAILED and nothing is debited. A
// payment that exists and is not FAILED is left alone (someone else is
// paying, or has paid, the same hash). A payment that exists for another
// invoice is an error: a retry delivers the recorded invoice to the
// recorded destination, so it must be the same invoice.
func (n *Node) record(ctx context.Context, tx *store.Tx, p preparedPayment) error {
	now := store.Micros(n.now())
	hash := hexHash(p.inv.PaymentHash)
	inv, pr, amount, fee, reason := p.inv, p.pr, p.amount, p.fee, p.reason
	status, resolved := lightning.StatusInFlight, int64(0)
	if reason != lightning.FailureNone {
		status, resolved = lightning.StatusFailed, now
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ln_embedded_payments
		(node_pubkey, payment_hash, payment_request, destination, amount_msat, fee_msat, status,
		 preimage, failure_reason, attempts, created_at, resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, 0, $9, $10)
		ON CONFLICT (node_pubkey, payment_hash) DO NOTHING`,
		n.pubkey, hash, pr, inv.Destination, amount, fee, string(status), string(reason), now, resolved)
	if err != nil {
		return fmt.Errorf("embedded: record payment: %w", err)
	}
	inserted := true
	if k, _ := res.RowsAffected(); k == 0 {
		inserted = false
		var recorded string
		if err := tx.QueryRowContext(ctx, `SELECT payment_request FROM ln_embedded_payments
			WHERE node_pubkey = $1 AND payment_hash = $2`, n.pubkey, hash).Scan(&recorded); err != nil {
			return fmt.Errorf("embedded: read payment: %w", err)
		}
		if !lightning.SameInvoice(recorded, pr) {
			return errOtherInvoice(inv.PaymentHash)
		}
		// Paid before and FAILED: try again, unless another caller got
		// there first.
		res, err = tx.ExecContext(ctx, `UPDATE ln_embedded_payments
			SET payment_request = $3, amount_msat = $4, fee_msat = $5, status = $6, preimage = '',
			    failure_reason = $7, attempts = 0, sent_attempt = 0, resolved_at = $8
			WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $9`,
			n.pubkey, hash, pr, amount, fee, string(status), string(reason), resolved, string(lightning.StatusFailed))
		if err != nil {
			return fmt.Errorf("embedded: retry payment: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return nil
		}
	}
	if status == lightning.StatusFailed {
		return nil
	}
	// The conditional UPDATE is the overdraft guard: concurrent payments
	// (in this process or another on the same database) serialise on
	// the node row, and each re-checks the balance it finds.
	res, err = tx.ExecContext(ctx, `UPDATE ln_embedded_nodes SET balance_msat = balance_msat - $2
		WHERE pubkey = $1 AND balance_msat >= $2`, n.pubkey, amount+fee)
	if err != nil {
		return fmt.Errorf("embedded: debit: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 1 {
		if inserted {
			row := paymentRow{Payment: lightning.Payment{
				PaymentHash: inv.PaymentHash, PaymentRequest: pr, Destination: inv.Destination,
				AmountMsat: amount, FeeMsat: fee, Status: lightning.StatusInFlight, CreatedAt: store.Time(now),
			}}
			tx.AfterCommit(func() { n.recorded.put(row.PaymentHash, recordedPayment{row: row, at: time.Now()}) })
		}
		return nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE ln_embedded_payments SET status = $3, failure_reason = $4, fee_msat = 0, resolved_at = $5
		WHERE node_pubkey = $1 AND payment_hash = $2`,
		n.pubkey, hash, string(lightning.StatusFailed), string(lightning.FailureInsufficientBalance), now)
	return err
}

// errOtherInvoice: the payment hash is recorded for a different invoice.
func errOtherInvoice(hash lightning.Hash) error {
	return fmt.Errorf("embedded: %w: payment hash %s is recorded for another invoice", lightning.ErrInvalidInvoice, hash)
}

// wait drives the payment until it is final or the deadline passes. known,
// if not nil, is the payment's row as the caller has just read it, used
// instead of reading it again. With take, a success learned by an attempt
// waited for is handed over with the function that records it (see
// PaySuccessInto).
func (n *Node) wait(ctx context.Context, hash lightning.Hash, deadline time.Time, known *paymentRow, take bool) (lightning.Payment, func(context.Context, *store.Tx) error, error) {
	backoff := 20 * time.Millisecond
	for {
		var (
			p   paymentRow
			err error
		)
		if known != nil {
			p, known = *known, nil
		} else {
			p, err = n.loadPaymentRow(ctx, n.db, hash)
		}
		if err != nil || p.Status != lightning.StatusInFlight {
			return p.Payment, nil, err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return p.Payment, nil, nil
		}
		timer := time.NewTimer(remaining)
		r := n.kick(hash, &p)
		if take {
			n.mu.Lock()
			r.takers++
			n.mu.Unlock()
		}
		ended := false
		select {
		case <-r.done:
			ended = true
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		n.mu.Lock()
		if take {
			r.takers--
		}
		handed := r.handed
		n.mu.Unlock()
		if take && handed && !ended {
			// The attempt is handing us its success as we leave: it ends
			// at once, and the success is ours to record.
			<-r.done
			ended = true
		}
		if !ended && ctx.Err() != nil {
			return p.Payment, nil, ctx.Err()
		}
		switch {
		case ended && r.ok && !handed:
			// The attempt recorded the final outcome: that is the
			// payment now, no need to read it back.
			return r.final, nil, nil
		case ended && r.ok && take:
			// The attempt handed us the success, to record.
			final := r.final
			return final, func(ctx context.Context, tx *store.Tx) error {
				_, _, err := n.succeed(ctx, tx, final, final.Preimage, store.Micros(final.ResolvedAt))
				return err
			}, nil
		}
		// An attempt ended without a final answer (payee unreachable, or
		// payments held; or its success went to a caller that records it
		// in its own transaction): pause before the next.
		q, err := n.loadPayment(ctx, n.db, hash)
		if err != nil || q.Status != lightning.StatusInFlight {
			return q, nil, err
		}
		pause := min(backoff, time.Until(deadline))
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return q, nil, ctx.Err()
			}
		}
		backoff = min(2*backoff, time.Second)
	}
}

// TrackPayment returns an outgoing payment by hash. A payment in flight is
// also nudged: an attempt to resolve it starts if none is running here.
func (n *Node) TrackPayment(ctx context.Context, paymentHash lightning.Hash) (lightning.Payment, error) {
	p, err := n.loadPaymentRow(ctx, n.db, paymentHash)
	if err == nil && p.Status == lightning.StatusInFlight {
		n.kick(paymentHash, &p)
	}
	return p.Payment, err
}

const paymentColumns = `payment_hash, payment_request, destination, amount_msat, fee_msat, status,
	preimage, failure_reason, attempts, created_at, resolved_at`

type paymentRow struct {
	lightning.Payment
	attempts int64
}

func (n *Node) loadPayment(ctx context.Context, q store.Querier, hash lightning.Hash) (lightning.Payment, error) {
	r, err := n.loadPaymentRow(ctx, q, hash)
	return r.Payment, err
}

func (n *Node) loadPaymentRow(ctx context.Context, q store.Querier, hash lightning.Hash) (paymentRow, error) {
	var (
		r                      paymentRow
		h, status, pre, reason string
		created, resolved      int64
	)
	err := q.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM ln_embedded_payments
		WHERE node_pubkey = $1 AND payment_hash = $2`, n.pubkey, hexHash(hash)).Scan(
		&h, &r.PaymentRequest, &r.Destination, &r.AmountMsat, &r.FeeMsat, &status, &pre, &reason,
		&r.attempts, &created, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("embedded: payment %s: %w", hash, lightning.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("embedded: read payment: %w", err)
	}
	r.PaymentHash = hash
	r.Status = lightning.PaymentStatus(status)
	r.FailureReason = lightning.FailureReason(reason)
	if pre != "" {
		if r.Preimage, err = parseHash(pre); err != nil {
			return r, err
		}
	}
	r.CreatedAt, r.ResolvedAt = store.Time(created), store.Time(resolved)
	return r, nil
}
