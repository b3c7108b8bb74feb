package vasp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// The sending side, step 3: executing a quote. One transaction claims the
// quote, reserves the user's money (user -> hold; this is where an
// overdraft is refused) and records the OUTGOING transaction as PROCESSING;
// only then is the invoice paid. The payment hash is the node's idempotency
// key, so paying again after a crash cannot pay twice. The result is booked
// in a second transaction: settle (hold -> FX, the bitcoin leaves the node)
// or release (hold -> user), each with its OUTGOING_PAYMENT webhook.
// resolveOutgoing finishes payments whose process died in between, and
// those whose Pay ended in an error that does not say the invoice was
// refused (the outcome is then unknown: the node may be paying).

// ErrQuoteExpired is returned (wrapped in a *vaspd.Error) when a quote's
// invoice expired before it was executed.
var ErrQuoteExpired = errors.New("quote expired")

// errExecuteRaced says another execute claimed the quote first, or an
// auto-refresh gave it new terms, between its read and the claim.
var errExecuteRaced = errors.New("quote claimed by a concurrent execute")

// errTermsMoved says an auto-refresh replaced the terms an execute read
// before it could claim them.
var errTermsMoved = errors.New("quote refreshed while executed")

// maxTermsMoves bounds how many times one execute takes up a quote's new
// terms. An auto-refresh renews a quote's terms at most once per half its
// invoice's life, so more than one is not expected.
const maxTermsMoves = 3

// ExecuteQuote pays q for its user. idempotencyKey is optional; a retried
// execute of the same quote returns the same transaction, never a second
// payment.
//
// A quote made with autoRefresh may get new terms (invoice, amounts)
// between the read of its terms and their claim: the claim is conditional
// on the payment hash read, so the debit and the invoice paid are always
// of one set of terms. Should the terms have moved, the execute starts
// over with the new ones: the platform asked for moving terms, the old
// invoice is no longer the quote's, and an error would only have it call
// again for the same result. The transaction answered carries the
// amounts executed.
func (s *Service) ExecuteQuote(ctx context.Context, quoteID, idempotencyKey string) (Transaction, error) {
	return s.executeQuote(ctx, quoteID, idempotencyKey, nil)
}

// executeQuote is ExecuteQuote; fund, if not nil, is a sandbox transfer
// deposited to the user in the transaction that claims the quote
// (SandboxSend), so that an execute refused deposits nothing.
func (s *Service) executeQuote(ctx context.Context, quoteID, idempotencyKey string, fund *sandboxFunding) (t Transaction, err error) {
	defer func() {
		if err != nil {
			s.payments.refused(err)
		}
	}()
	for moves := 0; ; moves++ {
		t, err := s.executeTerms(ctx, quoteID, idempotencyKey, fund)
		if !errors.Is(err, errTermsMoved) {
			return t, err
		}
		if moves == maxTermsMoves {
			return Transaction{}, vaspd.Conflict(vaspd.CodeQuoteNotPending,
				"quote %s was refreshed while it was executed, %d times: execute it again", quoteID, moves+1)
		}
	}
}

// executeTerms executes the terms quote quoteID holds when read; it
// returns errTermsMoved if they changed before they were claimed.
func (s *Service) executeTerms(ctx context.Context, quoteID, idempotencyKey string, fund *sandboxFunding) (Transaction, error) {
	now := s.stamp()
	// The quote is read before the transaction: the claim below is
	// conditional on its state and terms (payment hash), so a concurrent
	// execute, or an auto-refresh, between this read and the claim is
	// caught there.
	q, err := scanQuote(s.db.QueryRowContext(ctx, `SELECT `+quoteColumns+` FROM uma_quotes WHERE id = $1`, quoteID))
	if errors.Is(err, sql.ErrNoRows) {
		return Transaction{}, vaspd.NotFound(vaspd.CodeQuoteNotFound, "quote %s not found", quoteID)
	}
	if err != nil {
		return Transaction{}, fmt.Errorf("read quote: %w", err)
	}
	// A key is one execute's: on any other quote it is refused, even one
	// executed already, whose transaction is not the answer to the
	// request the key stands for.
	if err := keyOfAnotherQuote(ctx, s.db, idempotencyKey, q.ID); err != nil {
		return Transaction{}, err
	}
	if q.TransactionID != "" {
		return s.executed(ctx, q, fund)
	}
	if err := fund.matches(q); err != nil {
		return Transaction{}, err
	}
	if q.Status == QuoteExpired || !now.Before(q.ExpiresAt) { // stored EXPIRED: replaced by a refresh
		return Transaction{}, quoteExpired(q)
	}
	sender, err := s.payable(ctx, q)
	if err != nil {
		return Transaction{}, err
	}
	// The transaction is made now, with its id: lists order by id, and
	// its createdAt must agree. The checks above (a compliance hook, the
	// sender's read) may have taken a while, during which other payments
	// were made; dated from the start of the execute, it would list as
	// newer than they are while being older.
	now = s.stamp()
	t := Transaction{
		ID: vaspd.NewID(vaspd.IDTransaction), Direction: Outgoing, Status: StatusProcessing,
		UserID: q.UserID, PlatformUserID: sender.PlatformUserID, OurAddress: s.address(sender.Local),
		Counterparty: q.Receiver, QuoteID: q.ID, PaymentHash: q.PaymentHash, Invoice: q.Invoice,
		Currency: q.SendingCurrency, Amount: q.debit(), Msats: q.Msats, Fee: q.Fee,
		CounterCurrency: q.ReceivingCurrency, CounterAmount: q.ReceivingAmount,
		CreatedAt: now, UpdatedAt: now,
	}
	t.Details.Comment, t.Details.UtxoCallback = q.Request.Description, q.utxoCallback
	if c := q.ReceivingCurrencyInfo; c.Code == q.ReceivingCurrency {
		t.Details.ReceivingCurrency = &c
	}
	if q.payeeData != nil {
		t.Details.PayeeData, _ = json.Marshal(q.payeeData) // decoded from JSON: it encodes
	}
	if q.OriginalQuoteID != "" {
		// A retry names the transaction it retries: the first quote's,
		// which has one (it FAILED before any retry of it was made).
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(transaction_id, '') FROM uma_quotes WHERE id = $1`,
			q.OriginalQuoteID).Scan(&t.Details.OriginalTransactionID); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Transaction{}, fmt.Errorf("read the transaction quote %s retries: %w", q.ID, err)
		}
	}
	payReq := s.payRequest(t)
	// A node on our database records the payment (and debits itself) in
	// the transaction that reserves the user's money: one commit less per
	// payment, and the two records can never disagree. An invoice the node
	// refuses is left to pay below, which books the refusal as before.
	var recordPayment func(context.Context, *store.Tx) error
	if n, ok := s.opt.Node.(paymentRecorder); ok && n.DB() == s.db {
		recordPayment, _ = n.PreparePayment(ctx, payReq)
	}
	if s.beforeClaim != nil {
		s.beforeClaim(q.ID)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// The sender deleted since ByID read them (by any process) pays
		// nothing: the check share-locks their row, so a delete either
		// waits for this payment and sees it (BeforeUserDelete), or is
		// seen here. So is a rename: the sender must still hold the
		// address the receiver was told pays (checkPayer), if any.
		if err := s.checkLive(ctx, tx, q.UserID, q.payer.local()); err != nil {
			if q.payer != nil && vaspd.AsError(err).Status == http.StatusNotFound && s.checkLive(ctx, tx, q.UserID, "") == nil {
				return s.payerMoved(q)
			}
			return err
		}
		// A retry, or a quote paying an UMA request: what it pays is paid
		// once, whatever the quotes made for it.
		if err := claimPayments(ctx, tx, q); err != nil {
			return err
		}
		// Unexpired at the claim, not only when read: the checks above
		// (a compliance hook, the directory) and the locks may take a
		// while, and a quote claimed past its expiry would pay at a rate
		// whose lock ended, or an UMA request that expired.
		res, err := tx.ExecContext(ctx, `UPDATE uma_quotes SET status = $1, transaction_id = $2, idempotency_key = $3, updated_at = $4
			WHERE id = $5 AND status = $6 AND transaction_id IS NULL AND payment_hash = $7 AND expires_at > $8`,
			QuoteProcessing, t.ID, nullable(idempotencyKey), store.Micros(now), q.ID, QuotePending, q.PaymentHash, store.Micros(s.stamp()))
		if err != nil {
			if tx.Driver().IsUniqueViolation(err) {
				return errKeyReused()
			}
			return fmt.Errorf("claim quote: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errExecuteRaced
		}
		if fund != nil {
			if err := s.deposit(ctx, tx, q, fund); err != nil {
				return err
			}
		}
		// Any error below rolls the whole transaction back, and the claim
		// above keeps a second execute of q out: no savepoint needed.
		if _, err := s.opt.Ledger.TransferNoSavepoint(ctx, tx, ledger.Reserve("reserve/"+q.PaymentHash, q.UserID, q.SendingCurrency, q.debit(), t.ID)); err != nil {
			if errors.Is(err, ledger.ErrInsufficientFunds) {
				// With the ledger's details (currency, available,
				// required), as a withdrawal's overdraft has them.
				e := vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInsufficientBalance,
					"the user's %s balance does not cover %d", q.SendingCurrency, q.debit())
				if le := vaspd.AsError(err); le != nil && le.Details != nil {
					e = e.WithDetails(le.Details)
				}
				return e
			}
			if errors.Is(err, ledger.ErrIdempotencyConflict) {
				// The reservation is named by the payment hash: another
				// quote holding the same invoice (the receiver gave it
				// twice) reserved for it already.
				return vaspd.Conflict(vaspd.CodeInvoiceAlreadyPaid, "the receiver's invoice of quote %s was paid through another quote; ask for a new quote", q.ID)
			}
			return err
		}
		// An outgoing payment pays no payment request of ours: the
		// time of the claim is not read.
		if err := insertTransaction(ctx, tx, t, "", t.CreatedAt); err != nil {
			return err
		}
		if recordPayment != nil {
			return recordPayment(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, errExecuteRaced) {
		// A concurrent execute claimed the quote between our read and our
		// update (PostgreSQL, READ COMMITTED): answer its transaction. Or
		// an auto-refresh gave it new terms: execute those.
		cur, qerr := s.GetQuote(ctx, quoteID)
		if qerr != nil {
			return t, qerr
		}
		if cur.TransactionID != "" {
			return s.executed(ctx, cur, fund)
		}
		if cur.PaymentHash != q.PaymentHash {
			return t, errTermsMoved
		}
		if cur.Status == QuoteExpired {
			return Transaction{}, quoteExpired(cur)
		}
		return t, vaspd.Conflict(vaspd.CodeQuoteNotPending, "quote %s cannot be executed now", quoteID)
	}
	if err != nil {
		return Transaction{}, err
	}
	s.log.Info("outgoing payment started", "transaction", t.ID, "counterparty", logDomain(t.Counterparty), "msats", t.Msats)
	return s.pay(ctx, t)
}

// payable checks, before quote q is claimed, that it may be paid now, and
// returns its sender. A counterparty denied since the quote was made is
// not paid: the lists (or a compliance hook's verdict) may have changed,
// and the money would go to it. Nor is a quote whose sender is no longer
// the payer it told the receiver (checkPayer). Refused, the quote stays
// PENDING; nothing moved (and a sandbox transfer, booked in the claiming
// transaction, is not deposited).
func (s *Service) payable(ctx context.Context, q Quote) (Recipient, error) {
	if receiver, err := uma.ParseAddress(q.Receiver); err != nil {
		return Recipient{}, fmt.Errorf("quote %s: %w", q.ID, err)
	} else if !receiver.UMA && !s.opt.PayLightningAddresses {
		return Recipient{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidReceiver,
			"%s is a plain Lightning Address, and paying those is off (pay-lightning-addresses)", q.Receiver)
	} else if err := s.opt.Compliance.CounterpartyAllowed(ctx, receiver.Domain); err != nil {
		return Recipient{}, vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
	}
	sender, err := s.opt.Users.ByID(ctx, q.UserID)
	if err != nil {
		return Recipient{}, err
	}
	if err := s.checkPayer(q, sender); err != nil {
		return Recipient{}, err
	}
	return sender, nil
}

// keyOfAnotherQuote refuses (422) the Idempotency-Key key ("" for none)
// when it executed a quote other than quoteID. The claim's unique index
// catches a key whose execute has not committed yet.
func keyOfAnotherQuote(ctx context.Context, db queryRower, key, quoteID string) error {
	if key == "" {
		return nil
	}
	var other string
	err := db.QueryRowContext(ctx, `SELECT id FROM uma_quotes WHERE idempotency_key = $1`, key).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && other == quoteID) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the quote of the idempotency key: %w", err)
	}
	return errKeyReused()
}

// errKeyReused is the answer to an execute whose Idempotency-Key executed
// another quote: 422, like every reuse of a key for another request (the
// ledger's, and the IETF Idempotency-Key draft's).
func errKeyReused() error {
	return vaspd.Errorf(http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused,
		"Idempotency-Key was already used for another quote")
}

// quoteExpired is the answer to an execute of q once q expired.
func quoteExpired(q Quote) error {
	if q.replacedBy != "" {
		return &vaspd.Error{Status: http.StatusConflict, Code: vaspd.CodeQuoteExpired, Err: ErrQuoteExpired,
			Message: fmt.Sprintf("quote %s was replaced by quote %s (POST /quotes/%s/refresh) at %s: execute that one",
				q.ID, q.replacedBy, q.ID, q.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	return &vaspd.Error{Status: http.StatusConflict, Code: vaspd.CodeQuoteExpired, Err: ErrQuoteExpired,
		Message: fmt.Sprintf("quote %s expired at %s: the receiver's invoice can no longer be paid; POST /quotes/%s/refresh for a new quote",
			q.ID, q.ExpiresAt.UTC().Format(time.RFC3339), q.ID)}
}

// paymentRecorder is a Lightning node that can record a payment in the
// caller's transaction before sending it (lightning/embedded).
type paymentRecorder interface {
	DB() *store.DB
	PreparePayment(ctx context.Context, req lightning.PayRequest) (func(context.Context, *store.Tx) error, error)
}

// payRequest is what the node is asked to pay for t.
func (s *Service) payRequest(t Transaction) lightning.PayRequest {
	return lightning.PayRequest{Invoice: t.Invoice, MaxFeeMsat: s.maxFee(t.Msats), Timeout: s.opt.PayTimeout}
}

// maxFee is the routing fee we accept for a payment of msats.
func (s *Service) maxFee(msats int64) int64 {
	return max(1_000, msats/1_000_000*s.opt.MaxRoutingFeePPM+msats%1_000_000*s.opt.MaxRoutingFeePPM/1_000_000)
}

// successRecorder is a Lightning node that can leave the record of a
// payment's success to the caller's transaction (lightning/embedded).
type successRecorder interface {
	DB() *store.DB
	PaySuccessInto(ctx context.Context, req lightning.PayRequest) (lightning.Payment, func(context.Context, *store.Tx) error, error)
}

// pay sends t's payment and books its result; a payment still in flight
// when the timeout passes stays PROCESSING for resolveOutgoing.
func (s *Service) pay(ctx context.Context, t Transaction) (Transaction, error) {
	var (
		p      lightning.Payment
		record func(context.Context, *store.Tx) error
		err    error
	)
	if here, err := s.ourOwnInvoice(ctx, t); err != nil {
		s.noteOutgoing(ctx, "send", t, "payment outcome unknown; left to the resolver", err)
		return t, nil
	} else if here {
		return s.payHere(ctx, t)
	}
	pctx, cancel := s.sendContext(ctx, t)
	pctx, span := s.startSpan(pctx, "lightning pay", t.ID)
	if n, ok := s.opt.Node.(successRecorder); ok && n.DB() == s.db {
		// A node on our database records the success in finish's
		// transaction: one commit less per payment, and the node's record
		// and ours commit together. Should that transaction not commit,
		// the node's payment is still in flight and is resolved as such.
		p, record, err = n.PaySuccessInto(pctx, s.payRequest(t))
	} else {
		p, err = s.opt.Node.Pay(pctx, s.payRequest(t))
	}
	endPaySpan(span, p, err)
	cancel()
	if err != nil && refused(err) {
		// Refused before anything was sent (expired, wrong network, …).
		s.log.Warn("payment refused by the node", "transaction", t.ID, "err", err)
		return s.finish(ctx, t, lightning.Payment{Status: lightning.StatusFailed, FailureReason: reasonOf(err)}, nil)
	}
	if err != nil {
		// Any other error (the node unreachable, a connection broken
		// mid-send, a database error) leaves the outcome unknown: the
		// node may have the payment and pay it. It stays PROCESSING,
		// reserved, for resolveOutgoing, which asks the node (and sends
		// it if the node never got it); releasing the money now could
		// pay it out twice.
		// The resolver sends it again (a pay timeout and a margin later)
		// until the node answers: logged as a warning by the execute,
		// then once an hour while the resolver's sends fail alike.
		s.noteOutgoing(ctx, "send", t, "payment outcome unknown; left to the resolver", err)
		return t, nil
	}
	return s.finish(ctx, t, p, record)
}

// resolveMargin is how much longer than PayTimeout a payment stays
// PROCESSING, since its updated_at, before the resolver looks at it (and,
// should the node not know it, sends it).
const resolveMargin = 5 * time.Second

// sendSlack is how much longer than PayTimeout, since t's updated_at, the
// node call of pay may run (see sendContext). It is less than
// resolveMargin.
const sendSlack = 2 * time.Second

// sendContext is the context of pay's node call: not cancelled with ctx
// (a payment handed to the node is followed even if the platform stopped
// waiting), but with a deadline at t.UpdatedAt + PayTimeout + sendSlack.
//
// The deadline is what makes the resolver's send safe. The resolver sends
// a PROCESSING payment the node does not know once its updated_at is older
// than PayTimeout + resolveMargin (resolveOutgoingRound, claimSend), and a
// node pays a FAILED payment again when asked. Without a deadline, an
// execute's Pay held up before it reaches the node for longer than that
// window (lnd's GetInfo and DecodePayReq may each take lnd-timeout, 30 s by
// default, against a window of 35 s; a database queue adds more) would
// find the payment the resolver sent in the meantime FAILED and booked
// FAILED, the user's money released, and pay it again: the receiver paid
// with money the user was given back. With it, the node call of execute
// (updated_at set when the reservation is made) and of a resolver's send
// (updated_at moved by claimSend) can no longer reach the node after
// updated_at + PayTimeout + sendSlack: every backend records the payment
// in a database transaction, or asks its node, under this context, and a
// cancelled context lets neither start. Once the node has recorded the
// payment, TrackPayment knows it and no resolver sends it. The remaining
// resolveMargin − sendSlack (3 s) covers a record whose commit was under
// way at the deadline and the clock difference between processes.
//
// The deadline only bounds the call: a payment the node took by then is
// followed by the node as always, and a call cut short by it leaves the
// payment PROCESSING for the resolver (its outcome is unknown to pay). The
// wait for the result is PayRequest.Timeout (PayTimeout), within it.
func (s *Service) sendContext(ctx context.Context, t Transaction) (context.Context, context.CancelFunc) {
	left := t.UpdatedAt.Add(s.opt.PayTimeout + sendSlack).Sub(s.clock.Now())
	return context.WithTimeout(context.WithoutCancel(ctx), left)
}

// refused reports whether a Pay error says the invoice cannot be paid as
// given: nothing was sent, and nothing ever will be for this request.
func refused(err error) bool {
	for _, e := range []error{lightning.ErrInvalidInvoice, lightning.ErrWrongNetwork, lightning.ErrInvoiceExpired,
		lightning.ErrAmountMismatch, lightning.ErrMainnetNotAllowed,
		lightning.ErrInsufficientFunds, lightning.ErrNoRoute} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// The failure reasons of a payment the node refused (refused): nothing
// was sent.
const (
	reasonInvoiceExpired lightning.FailureReason = "INVOICE_EXPIRED"
	reasonPaymentRefused lightning.FailureReason = "PAYMENT_REFUSED"
)

func reasonOf(err error) lightning.FailureReason {
	switch {
	case errors.Is(err, lightning.ErrInvoiceExpired):
		return reasonInvoiceExpired
	default:
		return reasonPaymentRefused
	}
}

// finish books a final payment result once. nodeRecord, if not nil,
// records the result in the node (PaySuccessInto) in the same transaction.
func (s *Service) finish(ctx context.Context, t Transaction, p lightning.Payment, nodeRecord func(context.Context, *store.Tx) error) (Transaction, error) {
	if p.Status != lightning.StatusSucceeded && p.Status != lightning.StatusFailed {
		return t, nil
	}
	// The payment is final whether or not the platform still waits for the
	// answer: a cancelled request must not leave it unbooked (PROCESSING
	// until the resolver's next look, a pay timeout later).
	ctx = context.WithoutCancel(ctx)
	now := s.stamp()
	done := false
	err := s.db.InTx(ctx, func(tx *store.Tx) (err error) {
		if nodeRecord != nil {
			if err := nodeRecord(ctx, tx); err != nil {
				return err
			}
		}
		done, err = s.finishIn(ctx, tx, &t, p, now)
		return err
	})
	if err != nil {
		return t, err
	}
	if done {
		s.finished(ctx, t)
		return t, nil
	}
	return s.GetTransaction(ctx, t.ID)
}

// finished logs, and wakes the webhooks and callbacks for, the outgoing
// payment t a committed finishIn booked.
func (s *Service) finished(ctx context.Context, t Transaction) {
	s.opt.Webhooks.Wake()
	s.log.Info("outgoing payment finished", "transaction", t.ID, "status", t.Status, "reason", t.FailureReason)
	if paid := t.Details.AmountPaidMsats; t.Status == StatusCompleted && paid != 0 {
		s.log.Error("outgoing payment: the node reports paying another amount than the invoice's; booked as the node paid it",
			"transaction", t.ID, "payment_hash", t.PaymentHash, "invoice_msats", t.Msats, "paid_msats", paid,
			"fee_msats", t.Details.RoutingFeeMsats)
	}
	if t.Status == StatusCompleted {
		s.registerCompleted(ctx, t)
		s.wakeCallbacks()
	}
}

// finishIn books inside tx the final result p of the outgoing payment t,
// once: it reports whether it did (false: booked already), and leaves t
// as booked.
func (s *Service) finishIn(ctx context.Context, tx *store.Tx, t *Transaction, p lightning.Payment, now time.Time) (bool, error) {
	status, quoteStatus := StatusCompleted, QuoteCompleted
	if p.Status == lightning.StatusFailed {
		status, quoteStatus = StatusFailed, QuoteFailed
	}
	// A success also stores the routing fee and the preimage in the
	// details, in the same UPDATE.
	details, newDetails := t.Details, "" // "": the stored details stay
	var m ledger.Movement
	if status == StatusCompleted {
		// What left the node is booked: the invoice's amount, which
		// is all a node pays for an invoice with one (every quote's:
		// amountless invoices are refused), and the routing fee. A
		// node reporting another amount is wrong or paid what it was
		// not asked; the books follow it (the difference a cost of
		// system:fees, not of the user, whose debit was quoted),
		// the payment says what was paid, and it is logged as an
		// error: reconciliation reports it (OUTGOING_AMOUNT) too.
		var paid int64
		if p.AmountMsat > 0 && p.AmountMsat != t.Msats {
			paid = p.AmountMsat
		}
		m = ledger.Settle{ID: settleMovement + t.PaymentHash, Reference: t.ID, UserID: t.UserID, Currency: t.Currency,
			Amount: t.Amount, FeeAmount: t.Fee, Msats: t.Msats, RoutingFeeMsats: p.FeeMsat, PaidMsats: paid}.Movement()
		details.RoutingFeeMsats, details.AmountPaidMsats = p.FeeMsat, paid
		details.Preimage = p.Preimage.String()
		d, _ := json.Marshal(details)
		newDetails = string(d)
	} else {
		m = ledger.Release("release/"+t.PaymentHash, t.UserID, t.Currency, t.Amount, t.ID)
	}
	res, err := tx.ExecContext(ctx, `UPDATE uma_transactions SET status = $1, failure_reason = $2, settled_at = $3, updated_at = $3,
		details = CASE WHEN $6 = '' THEN details ELSE $6 END, register_state = $7
		WHERE id = $4 AND status = $5`, status, string(p.FailureReason), store.Micros(now), t.ID, StatusProcessing, newDetails,
		s.registerState())
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil // booked already
	}
	if _, err := tx.ExecContext(ctx, `UPDATE uma_quotes SET status = $1, updated_at = $2 WHERE id = $3`, quoteStatus, store.Micros(now), t.QuoteID); err != nil {
		return false, err
	}
	// An error rolls everything back; the conditional UPDATE above
	// keeps a concurrent finish of t out: no savepoint needed.
	if _, err := s.opt.Ledger.TransferNoSavepoint(ctx, tx, m); err != nil {
		return false, fmt.Errorf("post %s: %w", m.Kind, err)
	}
	t.Status, t.FailureReason, t.SettledAt, t.UpdatedAt = status, string(p.FailureReason), now, now
	t.Details = details
	s.payments.endedIn(tx, *t)
	return true, s.announce(ctx, tx, *t)
}
