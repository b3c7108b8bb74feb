package vasp

import (
	"context"
	"encoding/json"
	"github.com/vaspd/vaspd/store"
	"time"

	"github.com/vaspd/vaspd/uma"
)

// SetPayeeData changes what our payreqs ask of the payee.
func (s *Service) SetPayeeData(o uma.CounterpartyDataOptions) { s.payeeData = o }

// RegisterEvery is how often Run looks for registrations owed.
const RegisterEvery = registerEvery

// Test hooks into the post-transaction callback sender.

// CallbackRound claims the callbacks due and sends them.
func (s *Service) CallbackRound(ctx context.Context) (int, error) { return s.callbackRound(ctx) }

// ListTransactionsQuery is ListTransactions' SQL and arguments.
func ListTransactionsQuery(f TransactionFilter, cursor string, limit int) (string, []any) {
	return listTransactionsQuery(f, cursor, limit)
}

// InsertTransaction records t as is.
func (s *Service) InsertTransaction(ctx context.Context, t Transaction) error {
	return insertTransaction(ctx, s.db, t, "", s.clock.Now())
}

// CallbackState is t's callback state and attempts.
func (s *Service) CallbackState(ctx context.Context, id string) (state string, attempts int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT callback_state, callback_attempts FROM uma_transactions WHERE id = $1`, id).Scan(&state, &attempts)
	return state, attempts, err
}

// CallbackError is what t's last callback attempt stored as its error.
func (s *Service) CallbackError(ctx context.Context, id string) (why string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT callback_error FROM uma_transactions WHERE id = $1`, id).Scan(&why)
	return why, err
}

// InsertDecidedTransaction records t with the stored approval decision
// approval ("APPROVED", "REJECTED" or "" for none).
func (s *Service) InsertDecidedTransaction(ctx context.Context, t Transaction, approval string) error {
	d := ""
	if approval != "" {
		b, _ := json.Marshal(decision{Decision: approval})
		d = string(b)
	}
	return insertTransaction(ctx, s.db, t, d, s.clock.Now())
}

// SweepCreated runs one sweep of the payments left CREATED.
func (s *Service) SweepCreated(ctx context.Context) { s.sweepCreated(ctx) }

// ResolveOutgoing runs one round of the resolver of payments left PROCESSING.
func (s *Service) ResolveOutgoing(ctx context.Context) { s.resolveOutgoingRound(ctx) }

// SetWalkLimit sets how long one sweep or resolver round may go on
// starting lookups. Call it before the service runs.
func (s *Service) SetWalkLimit(d time.Duration) { s.walkLimit = d }

// SweepPending runs one sweep of the incoming payments left PENDING.
func (s *Service) SweepPending(ctx context.Context) { s.sweepPending(ctx) }

// EndCreated ends the payment left CREATED as a sweep that read it with
// the stored decision approval (as InsertDecidedTransaction takes it) does.
func (s *Service) EndCreated(ctx context.Context, id, approval string) {
	d := ""
	if approval != "" {
		b, _ := json.Marshal(decision{Decision: approval})
		d = string(b)
	}
	s.endCreated(ctx, id, d)
}

// RegisterRound claims the completed payments whose registration is owed
// and registers them, returning how many it claimed.
func (s *Service) RegisterRound(ctx context.Context) (int, error) { return s.registerRound(ctx) }

// Fetch does one HTTP call to a counterparty, as lookups, payreqs and
// post-transaction callbacks do.
func (s *Service) Fetch(ctx context.Context, method, u string) (int, []byte, error) {
	return s.fetch(ctx, method, u, nil)
}

// NoteCapped reports, as a credit refused for the payee's balance cap
// does, the payment with payment hash h.
func (s *Service) NoteCapped(ctx context.Context, h string, cause error) { s.noteCapped(ctx, h, cause) }

// CappedNotedMax bounds CappedNoted.
const CappedNotedMax = lookupNotedMax

// CappedNoted is how many payments the balance cap's log remembers.
func (s *Service) CappedNoted() int {
	s.capped.mu.Lock()
	defer s.capped.mu.Unlock()
	return len(s.capped.noted)
}

// RefreshRound runs one pass of the quote refresher and waits for its
// attempts, returning how many quotes it refreshed.
func (s *Service) RefreshRound(ctx context.Context) (int, error) {
	run := newRefreshRun()
	err := s.refreshPass(ctx, run)
	run.wg.Wait()
	return run.refreshed, err
}

// RefreshQuotes runs the quote refresher until ctx ends and its attempts
// have stopped, as Run does.
func (s *Service) RefreshQuotes(ctx context.Context) { s.refreshQuotes(ctx) }

// SetBeforeClaim has ExecuteQuote run f between reading the quote and
// claiming it. Call it before the service is used.
func (s *Service) SetBeforeClaim(f func(quoteID string)) { s.beforeClaim = f }

// ReadOpen reads the open payments into their gauges, as the gauges' loop
// does every 10 s.
func (s *Service) ReadOpen(ctx context.Context) error { return s.readOpen(ctx) }

// ReadGauges is one look of the gauges' loop: the open payments, then the
// node.
func (s *Service) ReadGauges(ctx context.Context) { s.readGauges(ctx) }

// ReadNode reads the node's channels into their gauges, as the gauges'
// loop does every 10 s.
func (s *Service) ReadNode(ctx context.Context) { s.readNode(ctx) }

// PurgeLookupsQuery is the statement PurgeLookups runs, for its plan.
const PurgeLookupsQuery = purgeLookupsQuery

// LiveUmaRequestsQuery is the count of the cap on UMA requests (MaxLiveUmaRequests), for its plan.
const LiveUmaRequestsQuery = liveUmaRequestsQuery

// PurgeUmaRequestsQuery is the statement PurgeUmaRequests runs, for its plan.
const PurgeUmaRequestsQuery = purgeUmaRequestsQuery

// InsertTransactionIn records t as is in tx: a payment of a payment
// request is counted against it first (claimPaymentRequest), at t.CreatedAt.
func InsertTransactionIn(ctx context.Context, tx *store.Tx, t Transaction) error {
	return insertTransaction(ctx, tx, t, "", t.CreatedAt)
}

// The queries of a payreq paying a payment request: its request by
// invoiceUUID, and its slots (its COMPLETED payments counted, the payers
// of its unsettled ones).
var (
	PaymentRequestByInvoiceQuery = paymentRequestByInvoiceQuery
	CompletedQuery               = completedQuery
	HoldersQuery                 = holdersQuery
)

// SetReconcilePage sets how many payments one reconciliation query reads.
func (s *Service) SetReconcilePage(n int) { s.reconcilePageSize = n }

// ReconcileOnce is one tick of the periodic reconciliation; it reports
// whether this Service took the turn and ran it.
func (s *Service) ReconcileOnce(ctx context.Context) bool { return s.reconcileOnce(ctx) }

// SetAfterRecipientCheck sets a hook run in the transaction recording an
// approved incoming payment, after the recipient was found live.
func (s *Service) SetAfterRecipientCheck(f func(userID string)) { s.afterRecipientCheck = f }

// SetBeforeIssue sets what runs as an approved incoming payment's invoice
// is about to be issued (issueInvoice), before its transaction.
func (s *Service) SetBeforeIssue(f func(txID string)) { s.beforeIssue = f }

// PayHere pays t, an outgoing payment of an invoice of our own node, by
// the books (payHere).
func (s *Service) PayHere(ctx context.Context, t Transaction) (Transaction, error) {
	return s.payHere(ctx, t)
}
