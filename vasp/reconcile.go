package vasp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
)

// Reconciling vaspd's books with the Lightning node. ledger.Check audits
// the ledger against itself; nothing there tells whether the node did
// what the books say. Reconcile walks the Lightning payments vaspd
// recorded in a window, oldest first, and asks the node about each
// (LookupInvoice for incoming, TrackPayment for outgoing):
//
//   - an incoming payment credited (COMPLETED), or failed for being
//     underpaid (what arrived booked to system:unmatched), must be an
//     invoice the node settled, for exactly what vaspd booked: the
//     credit's system:node posting, which settle.go makes what the node
//     reported received (the excess of an overpaid invoice going to
//     system:overpaid), and the transaction's own record of it;
//   - an incoming payment not credited (PENDING, EXPIRED, REJECTED) must
//     not be settled on the node: one that was, for longer than
//     reconcileGrace when its status was read (the settlement stream may
//     not have reached it), is money that arrived for a user never paid;
//   - an outgoing payment COMPLETED must be SUCCEEDED on the node, for the
//     amount and routing fee vaspd booked (the transaction and the
//     settle movement's system:node posting);
//   - an outgoing payment FAILED (its money given back to the user) must
//     not be SUCCEEDED: one that is was paid out and refunded; nor still
//     IN_FLIGHT, which may yet succeed. A node that does not know it is
//     fine only when vaspd's own reason says nothing was sent (the node
//     refused the invoice);
//   - an outgoing payment in flight (PROCESSING) is the resolver's, and
//     counted, not looked up, until it should have been finished: the
//     resolver books one a pay timeout and resolveMargin after its last
//     update (updated_at), within a round or two (every 2 s). One older
//     than that and reconcileGrace when its status was read is looked up:
//     final on the node (SUCCEEDED or FAILED), vaspd's books lag the node
//     (the resolver failing at it, or a bug), the user's money reserved
//     for a payment that is over. One the node still pays, or does not
//     know (the resolver sends those), stays in flight: the resolver is
//     at it. A resolver that booked it between the read and the lookup
//     was itself later than the grace;
//   - a payment between two of our users paid by the books alone
//     (Details.BookTransfer: payHere), both sides COMPLETED in one
//     transaction, must have moved system:node by the invoice's amount
//     (no fee), and not on the node: an outgoing one SUCCEEDED there
//     (OUTGOING_AMOUNT), an incoming one whose invoice the node settled
//     (SETTLED_NOT_CREDITED: paid by someone else after all).
//
// The window is of the payments' creation as their ids tell (uuidv7:
// "ids sort by creation time"), so the walk is a range of the primary
// key and needs no index of its own. Nothing is written: the report is
// the result. What is not reconciled (invoices vaspd never issued, the
// node's absolute balance) is said in the README's design notes.

// Mismatch kinds.
const (
	// MismatchNotSettledOnNode: vaspd booked money in (a credit, or an
	// underpaid invoice's unmatched receipt) for an invoice the node does
	// not report settled.
	MismatchNotSettledOnNode = "NOT_SETTLED_ON_NODE"
	// MismatchSettledNotCredited: the node settled an invoice vaspd issued
	// and vaspd credited no one.
	MismatchSettledNotCredited = "SETTLED_NOT_CREDITED"
	// MismatchIncomingAmount: settled, but for another amount than vaspd
	// booked.
	MismatchIncomingAmount = "INCOMING_AMOUNT"
	// MismatchNotSentOnNode: vaspd booked an outgoing payment COMPLETED
	// the node does not report SUCCEEDED.
	MismatchNotSentOnNode = "NOT_SENT_ON_NODE"
	// MismatchOutgoingAmount: SUCCEEDED, but the amount or routing fee
	// differs from what vaspd booked.
	MismatchOutgoingAmount = "OUTGOING_AMOUNT"
	// MismatchRefundedButSent: vaspd booked an outgoing payment FAILED and
	// gave the money back, and the node SUCCEEDED in paying it: the money
	// left twice. The worst.
	MismatchRefundedButSent = "REFUNDED_BUT_SENT"
	// MismatchRefundedInFlight: vaspd booked an outgoing payment FAILED
	// and gave the money back while the node is still paying it: it may
	// yet succeed, and the money leave twice.
	MismatchRefundedInFlight = "REFUNDED_IN_FLIGHT"
	// MismatchRefundedUnknown: vaspd booked an outgoing payment FAILED on
	// the node's word (not a refusal of the invoice), and the node does
	// not know it: whether it was sent cannot be told.
	MismatchRefundedUnknown = "REFUNDED_UNKNOWN_TO_NODE"
	// MismatchUnreadable: vaspd's record of the payment cannot be read
	// (its details do not parse, its payment hash or id is none): it is
	// not checked against the node, and someone must look at it.
	MismatchUnreadable = "UNREADABLE_RECORD"
	// MismatchFinalOnNodeNotBooked: vaspd's books say an outgoing payment
	// is still PROCESSING, past the time the resolver should have booked
	// it (processingOverdue), and the node has finished it
	// (SUCCEEDED or FAILED): the books lag the node, the user's money
	// still reserved for a payment that was paid or failed.
	MismatchFinalOnNodeNotBooked = "FINAL_ON_NODE_NOT_BOOKED"
)

// MismatchKinds are the kinds, in the order the metrics list them.
var MismatchKinds = []string{MismatchNotSettledOnNode, MismatchSettledNotCredited, MismatchIncomingAmount,
	MismatchNotSentOnNode, MismatchOutgoingAmount, MismatchRefundedButSent, MismatchRefundedInFlight, MismatchRefundedUnknown,
	MismatchUnreadable, MismatchFinalOnNodeNotBooked}

// Checks: what Reconciliation.Checked counts, by what vaspd says.
const (
	CheckIncomingCompleted = "INCOMING_COMPLETED" // credited
	CheckIncomingUnderpaid = "INCOMING_UNDERPAID" // FAILED, booked to system:unmatched (underpaid, or its user deleted)
	CheckIncomingNotPaid   = "INCOMING_NOT_PAID"  // PENDING, EXPIRED, REJECTED: not settled on the node
	CheckOutgoingCompleted = "OUTGOING_COMPLETED" // SUCCEEDED on the node
	CheckOutgoingFailed    = "OUTGOING_FAILED"    // refunded: not SUCCEEDED on the node
	// PROCESSING past the resolver's time, and final on the node: each a
	// MismatchFinalOnNodeNotBooked. Those the node still pays, or does
	// not know, are counted in flight, as are younger ones.
	CheckOutgoingProcessing = "OUTGOING_PROCESSING"
)

// reconcileGrace is how long an invoice may have been settled on the node,
// when vaspd's status was read, before a payment not credited is a
// mismatch: the settlement stream credits within moments, the sweep within
// 15 s. So, beyond the resolver's own time (processingOverdue), for an
// outgoing payment PROCESSING: the resolver looks at each every round
// (2 s), a batch of 100 at a time, and a round may stop at a lookup that
// failed.
const reconcileGrace = time.Minute

// reconcileConcurrency is how many node lookups one run makes at once:
// lnd's are network calls, each up to its timeout.
const reconcileConcurrency = 4

// reconcileLookupTimeout bounds one node lookup.
const reconcileLookupTimeout = 15 * time.Second

// reconcilePage is how many transactions one query reads
// (Service.reconcilePageSize).
const reconcilePage = 200

// maxMismatchesListed bounds the mismatches a report lists (all are
// counted in MismatchCounts).
const maxMismatchesListed = 1000

// Reconciliation is one run's report, as GET /ledger/reconciliation
// answers it.
type Reconciliation struct {
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Complete is whether every payment of the window was checked. When
	// not, ResumeSince is where a run covering the rest starts (the
	// creation time, as its id tells, of the last payment checked, or of the first of the
	// page a stop left partly unchecked, or of the first payment whose
	// lookup failed, whichever is earliest) and Incomplete says why.
	Complete    bool      `json:"complete"`
	ResumeSince time.Time `json:"resumeSince,omitzero"`
	Incomplete  string    `json:"incomplete,omitempty"`
	// Transactions is how many Lightning payments of the window were read.
	Transactions int `json:"transactions"`
	// Checked counts the payments checked against the node, by check.
	Checked map[string]int `json:"checked"`
	// InFlight counts payments not yet final: outgoing PROCESSING not
	// yet overdue for the resolver, or that the node still pays or does
	// not know, and incoming PENDING whose invoice is not settled or was
	// settled within the grace.
	InFlight InFlight `json:"inFlight"`
	// Unchecked counts payments whose node lookup failed (an error, the
	// node unreachable) or was never made (the run stopped).
	Unchecked int `json:"unchecked"`
	// MismatchCounts counts the mismatches by kind; Mismatches lists them
	// (at most maxMismatchesListed).
	MismatchCounts map[string]int `json:"mismatchCounts"`
	Mismatches     []Mismatch     `json:"mismatches"`
	// cause is the error behind Incomplete, for the log only: the report
	// goes to the platform, which is told no internal cause.
	cause error
	// firstUnchecked is the creation time of the earliest payment left
	// unchecked: a resume from any later would never check it.
	firstUnchecked time.Time
}

// uncheck counts row as not checked.
func (r *Reconciliation) uncheck(row reconcileRow) {
	r.Unchecked++
	if r.firstUnchecked.IsZero() || row.at.Before(r.firstUnchecked) {
		r.firstUnchecked = row.at
	}
}

// addMismatch counts m (nil: none) and lists it while the list has room.
func (r *Reconciliation) addMismatch(m *Mismatch) {
	if m == nil {
		return
	}
	r.MismatchCounts[m.Kind]++
	if len(r.Mismatches) < maxMismatchesListed {
		r.Mismatches = append(r.Mismatches, *m)
	}
}

// InFlight counts payments still on their way.
type InFlight struct {
	IncomingPending    int `json:"incomingPending"`
	OutgoingProcessing int `json:"outgoingProcessing"`
}

// Mismatch is one payment on which vaspd and the node disagree.
type Mismatch struct {
	TransactionID string   `json:"transactionId"`
	PaymentHash   string   `json:"paymentHash"`
	Direction     string   `json:"direction"`
	Kind          string   `json:"kind"`
	Ours          OurSide  `json:"vaspd"`
	Node          NodeSide `json:"node"`
}

// OurSide is what vaspd recorded: the transaction's status, the msats it
// booked as having moved on the node (received for incoming; paid,
// routing fee excluded, for outgoing: the node's word when it differed
// from the invoice, Details.AmountPaidMsats), the invoice's own amount
// (InvoiceMsats) and the routing fee (outgoing). LedgerMsats is the
// system:node posting of its movement, signed as the node saw it
// (received positive, sent positive), 0 when there is none.
type OurSide struct {
	Status       string `json:"status"`
	Msats        int64  `json:"msats"`
	InvoiceMsats int64  `json:"invoiceMsats"`
	FeeMsats     int64  `json:"feeMsats"`
	LedgerMsats  int64  `json:"ledgerMsats"`
}

// NodeSide is what the node answered: an invoice's state (OPEN, SETTLED,
// CANCELED) and amount paid, a payment's status (SUCCEEDED, FAILED,
// IN_FLIGHT) with its amount and fee, or NOT_FOUND.
type NodeSide struct {
	State    string `json:"state"`
	Msats    int64  `json:"msats"`
	FeeMsats int64  `json:"feeMsats"`
}

const nodeNotFound = "NOT_FOUND"

// reconcileRow is a payment as the reconciler reads it.
type reconcileRow struct {
	id, direction, status, hash, reason string
	msats                               int64
	details                             Details
	// at is the payment's creation as its id tells, what the window is
	// of: its created_at may precede it by seconds (execute stamps it
	// before asking the compliance hook), and a resume from that would
	// start before the window.
	at     time.Time
	ledger sql.NullInt64 // the movement's system:node posting
	// read is when the row was read: its status is vaspd's as of then,
	// and a lookup may answer minutes later (a page of slow lookups),
	// after a settlement vaspd credited meanwhile.
	read time.Time
	// updatedAt is the payment's last update (updated_at), from which
	// the resolver counts a PROCESSING payment's time; zero when the
	// row did not scan.
	updatedAt time.Time
	// unreadable says why the row cannot be checked ("" when it can):
	// it is a finding of its own (MismatchUnreadable), not a reason to
	// stop the run, which would leave every payment after it unchecked
	// for good (the next run stops at it again).
	unreadable string
}

// unreadableMismatch is the finding of a payment whose record cannot be read.
func unreadableMismatch(row reconcileRow) *Mismatch {
	return &Mismatch{TransactionID: row.id, PaymentHash: row.hash, Direction: row.direction, Kind: MismatchUnreadable,
		Ours: OurSide{Status: row.status, Msats: row.msats, InvoiceMsats: row.msats, LedgerMsats: row.ledger.Int64}}
}

// ErrReconcileRunning is returned by Reconcile while another run of this
// Service is under way.
var ErrReconcileRunning = errors.New("a reconciliation is already running")

// Reconcile checks the Lightning payments created in [since, until)
// against the node, at most limit of them (oldest first), stopping when
// ctx ends: the report then says it is not complete. An error is
// returned only when the payments cannot be read at all, or another run
// is under way (ErrReconcileRunning).
func (s *Service) Reconcile(ctx context.Context, since, until time.Time, limit int) (Reconciliation, error) {
	if !s.reconcileMu.TryLock() {
		return Reconciliation{}, ErrReconcileRunning
	}
	defer s.reconcileMu.Unlock()
	return s.reconcile(ctx, since, until, limit)
}

// reconcile is Reconcile, reconcileMu held.
func (s *Service) reconcile(ctx context.Context, since, until time.Time, limit int) (Reconciliation, error) {
	r := Reconciliation{Since: since, Until: until, StartedAt: s.clock.Now(),
		Checked: map[string]int{}, MismatchCounts: map[string]int{}, Mismatches: []Mismatch{}}
	for _, c := range []string{CheckIncomingCompleted, CheckIncomingUnderpaid, CheckIncomingNotPaid, CheckOutgoingCompleted, CheckOutgoingFailed,
		CheckOutgoingProcessing} {
		r.Checked[c] = 0
	}
	for _, k := range MismatchKinds {
		r.MismatchCounts[k] = 0
	}
	from, to, after := idAt(since), idAt(until), ""
	for {
		n := min(s.reconcilePageSize, limit-r.Transactions)
		if n <= 0 {
			// The limit reached: incomplete only if a payment is left.
			if more, err := s.reconcileRows(ctx, from, to, after, 1); err != nil || len(more) > 0 {
				r.Incomplete = fmt.Sprintf("stopped after %d payments, the most one run checks", limit)
			}
			break
		}
		rows, err := s.reconcileRows(ctx, from, to, after, n)
		if err != nil {
			if r.Transactions == 0 {
				return r, err
			}
			r.Incomplete, r.cause = "reading the payments failed (the log says why)", err
			break
		}
		if len(rows) == 0 {
			break
		}
		stop, cause := s.reconcilePage(ctx, &r, rows)
		r.Transactions += len(rows)
		r.ResumeSince = rows[len(rows)-1].at
		if r.ResumeSince.IsZero() {
			r.ResumeSince = since // a page of ids that tell no time
		}
		if stop != "" {
			// Its payments checked concurrently, a page stopped short
			// may leave any of them unchecked: the next run takes it
			// again from its first.
			r.Incomplete, r.cause, r.ResumeSince = stop, cause, rows[0].at
			break
		}
		if len(rows) < n {
			break
		}
		after = rows[len(rows)-1].id
	}
	// A lookup that failed alone did not stop the run, but its payment
	// was not checked: the window was not reconciled whole, and a resume
	// must start at it.
	if r.Unchecked > 0 && r.Incomplete == "" {
		r.Incomplete = fmt.Sprintf("%d payments could not be looked up on the node (the log says why)", r.Unchecked)
	}
	if !r.firstUnchecked.IsZero() && (r.ResumeSince.IsZero() || r.firstUnchecked.Before(r.ResumeSince)) {
		r.ResumeSince = r.firstUnchecked
	}
	if !r.ResumeSince.IsZero() && r.ResumeSince.Before(since) {
		r.ResumeSince = since // a payment's millisecond begins before a since within it
	}
	slices.SortFunc(r.Mismatches, func(a, b Mismatch) int { return strings.Compare(a.TransactionID, b.TransactionID) })
	r.Complete = r.Incomplete == ""
	if r.Complete {
		r.ResumeSince = time.Time{}
	}
	r.FinishedAt = s.clock.Now()
	s.logReconciliation(ctx, r)
	return r, nil
}

// reconcileRows reads up to n Lightning payments with ids in [from, to)
// and after after (the last id of the previous page; "" for none), in id
// order, with their movement's system:node posting.
func (s *Service) reconcileRows(ctx context.Context, from, to, after string, n int) ([]reconcileRow, error) {
	// One posting per account and currency in a movement (the ledger's
	// builders net them), read through ledger_postings' primary key.
	read := s.clock.Now()
	rows, err := s.db.QueryContext(ctx, `SELECT t.id, t.direction, t.status, t.payment_hash, t.failure_reason, t.msats,
		t.details, t.updated_at,
		(SELECT p.amount FROM ledger_postings p WHERE p.movement_id = (CASE WHEN t.direction = $1 THEN $8 ELSE $9 END) || t.payment_hash
			AND p.account = $2 AND p.currency = $3 LIMIT 1)
		FROM uma_transactions t WHERE t.id >= $4 AND t.id > $5 AND t.id < $6 AND t.payment_hash IS NOT NULL
		ORDER BY t.id LIMIT $7`, Incoming, string(ledger.Node), ledger.BTC, from, after, to, n, receiveMovement, settleMovement)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read payments: %w", err)
	}
	defer rows.Close()
	var out []reconcileRow
	for rows.Next() {
		var r reconcileRow
		var details string
		var updated int64
		if err := rows.Scan(&r.id, &r.direction, &r.status, &r.hash, &r.reason, &r.msats, &details, &updated, &r.ledger); err != nil {
			// A value its column's type does not hold (SQLite keeps
			// what it is given: a hand's edit) is this payment's
			// finding, not a failed read: failing the page, it would
			// fail every run at it.
			r = unscannableRow(rows, err)
		} else {
			r.updatedAt = store.Time(updated)
			if err := json.Unmarshal([]byte(details), &r.details); err != nil {
				r.unreadable = "details: " + err.Error()
			}
		}
		if r.at, err = idTime(r.id); err != nil {
			r.unreadable = err.Error()
			if len(out) > 0 {
				r.at = out[len(out)-1].at // where a resume takes it again
			}
		}
		r.read = read
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reconcile: read payments: %w", err)
	}
	return out, nil
}

// unscannableRow is the payment of the current row of rows, which did not
// scan (err): what of it reads as text, unreadable. Its id always does:
// the query compares it with text, which in SQLite only text passes.
func unscannableRow(rows *sql.Rows, err error) reconcileRow {
	r := reconcileRow{unreadable: "record: " + err.Error()}
	var id, direction, status, hash sql.NullString
	var rest [5]any
	if err := rows.Scan(&id, &direction, &status, &hash, &rest[0], &rest[1], &rest[2], &rest[3], &rest[4]); err == nil {
		r.id, r.direction, r.status, r.hash = id.String, direction.String, status.String, hash.String
	}
	return r
}

// reconcilePage checks rows, reconcileConcurrency lookups at a time,
// adding to r. It returns why it stopped early ("" when it did not), and
// the error behind it: ctx ended, or the node was unreachable (every
// lookup after would fail alike, each maybe after the client's timeout).
func (s *Service) reconcilePage(ctx context.Context, r *Reconciliation, rows []reconcileRow) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		stopped string
		cause   error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, reconcileConcurrency)
	for _, row := range rows {
		if row.direction == Outgoing && row.status == StatusProcessing && !s.processingOverdue(row) {
			r.InFlight.OutgoingProcessing++
			continue
		}
		if row.direction == Incoming && row.status == StatusCreated {
			continue // no invoice yet
		}
		if row.unreadable != "" {
			s.log.WarnContext(ctx, "reconciliation: a payment's record cannot be read; not checked against the node (a mismatch UNREADABLE_RECORD)",
				"transaction", row.id, "why", row.unreadable)
			r.addMismatch(unreadableMismatch(row))
			continue
		}
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if acquired {
				<-sem
			}
			mu.Lock()
			r.uncheck(row)
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res := s.reconcileOne(ctx, row)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case res.err != nil:
				r.uncheck(row)
				if errors.Is(res.err, lightning.ErrUnavailable) && stopped == "" && ctx.Err() == nil {
					stopped, cause = "the Lightning node is unreachable", res.err
					cancel()
				} else if cause == nil {
					cause = res.err // a lookup that failed alone: the run goes on
				}
			case res.pending && row.direction == Incoming:
				r.InFlight.IncomingPending++
			case res.pending:
				r.InFlight.OutgoingProcessing++
			case res.check != "":
				r.Checked[res.check]++
			}
			r.addMismatch(res.mismatch)
		}()
	}
	wg.Wait()
	if stopped == "" && ctx.Err() != nil {
		stopped, cause = "stopped before the end of the window: its time ran out, or it was cancelled", context.Cause(ctx)
	}
	if cause != nil && r.cause == nil {
		r.cause = cause
	}
	return stopped, cause
}

// processingOverdue reports whether row, an outgoing payment PROCESSING,
// should have been finished by the resolver when its status was read: it
// books one PayTimeout + resolveMargin after its last update
// (resolveOutgoingRound), and reconcileGrace allows for its rounds. A row
// that did not scan tells no age, and is overdue: the resolver cannot
// read it either (scanTransaction), so it will never finish it, and it is
// found UNREADABLE_RECORD.
func (s *Service) processingOverdue(row reconcileRow) bool {
	return row.updatedAt.IsZero() || row.read.Sub(row.updatedAt) > s.opt.PayTimeout+resolveMargin+reconcileGrace
}

// idTime is the time transaction id was made at, to the millisecond, as
// idAt reads it: a run resuming from it takes the payment again.
func idTime(id string) (time.Time, error) {
	u, err := vaspd.ParseID(vaspd.IDTransaction, id)
	if err != nil {
		return time.Time{}, err
	}
	ms := int64(u[0])<<40 | int64(u[1])<<32 | int64(u[2])<<24 | int64(u[3])<<16 | int64(u[4])<<8 | int64(u[5])
	return time.UnixMilli(ms).UTC(), nil
}

// idAt is the least transaction id made at t: a uuidv7's first 48 bits
// are its Unix time in milliseconds, and ids ("Transaction:<uuidv7>",
// lower-case hex) compare as text as their times do.
func idAt(t time.Time) string {
	ms := min(max(t.UnixMilli(), 0), 1<<48-1)
	return fmt.Sprintf("%s:%08x-%04x-7000-8000-000000000000", vaspd.IDTransaction, ms>>16, ms&0xffff)
}
