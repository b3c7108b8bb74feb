package vasp

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// Payments of an invoice our own Lightning node issued: one of our users
// paying another ($alice@pay.example paying $bob@pay.example), the lookup,
// payreq and quote going through our own UMA endpoints as with any VASP.
// The embedded node settles its own invoices. lnd refuses self-payments
// (lightning.NodeInfo.PaysOwnInvoices), and making it pay them
// (allow_self_payment) would only route the money in a circle through the
// node's channels, paying routing fees both ways. With such a node the
// payment is made by the books alone (payHere): the payer's settlement and
// the payee's credit in one database transaction, no bitcoin moving, the
// node's invoice left unpaid to expire.

// errBookedAlready says payHere found the outgoing payment booked by
// another while its incoming side was still waiting: rolled back, the
// payment is read as booked.
var errBookedAlready = errors.New("the outgoing payment was booked by another")

// ourOwnInvoice reports whether t pays an invoice of our own node, which
// cannot pay its own invoices: payHere pays it.
func (s *Service) ourOwnInvoice(ctx context.Context, t Transaction) (bool, error) {
	info, err := s.opt.Node.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("node info: %w", err)
	}
	if info.PaysOwnInvoices {
		return false, nil // before the decode: the embedded node's every payment
	}
	inv, err := bolt11.Decode(t.Invoice, info.Network)
	if err != nil {
		return false, nil // the node refuses it, as ever
	}
	return byBooksOnly(info, inv), nil
}

// byBooksOnly reports whether inv is an invoice of our own node, described
// by info, that the node cannot pay: only payHere can.
func byBooksOnly(info lightning.NodeInfo, inv bolt11.Invoice) bool {
	return !info.PaysOwnInvoices && strings.EqualFold(inv.Destination, info.PubKey)
}

// payHere pays the outgoing payment t, whose invoice our own node issued
// for an incoming payment of ours, by the books alone: in one database
// transaction the incoming payment is credited to its payee (creditIn)
// and t is settled (finishIn), each with its webhook, both marked
// Details.BookTransfer. system:node is credited what t pays and debited
// what the payee receives, the same msats, no routing fee: the node's
// balance does not move, and neither do the books' of it.
//
// It is as crash-safe as a Lightning payment: until that transaction
// commits, t is PROCESSING and its money reserved; a process that dies
// before leaves it to the resolver, whose node does not know the payment
// (it was never sent) and so sends it again, here. Two processes paying t
// at once credit the payee once: the incoming payment's conditional
// UPDATE lets one through, and the other, rolled back, finds t booked.
//
// What cannot be credited fails t, its money given back, as a node
// refusing the invoice would: the invoice unknown to the node, paid
// already (by someone else: the stream credited its payee), expired or
// canceled, or its incoming payment not waiting for it (expired,
// refused) or its payee deleted or at their balance cap.
//
// Once booked, the node's invoice is canceled (cancelBooked), so that no
// one pays it a second time. A node that cannot cancel it, or a process
// that dies first, leaves it open until it expires: paid by someone else
// before then, its money would arrive for a payment credited already,
// booked to no one, and reported by the reconciliation
// (SETTLED_NOT_CREDITED).
func (s *Service) payHere(ctx context.Context, t Transaction) (Transaction, error) {
	ctx = context.WithoutCancel(ctx) // as finish: once started, booked
	refuse := func(reason lightning.FailureReason, why string, attrs ...any) (Transaction, error) {
		r, err := s.finish(ctx, t, lightning.Payment{Status: lightning.StatusFailed, FailureReason: reason}, nil)
		if err == nil && r.Status == StatusFailed && r.FailureReason == string(reason) {
			// Not when another process booked it first (its payee's
			// credit, seen here, its own).
			s.log.Warn("outgoing payment to our own node's invoice refused: "+why, append([]any{"transaction", t.ID, "reason", reason}, attrs...)...)
		}
		return r, err
	}
	hash, err := lightning.ParseHash(t.PaymentHash)
	if err != nil {
		return refuse(reasonPaymentRefused, "its payment hash does not read", "err", err)
	}
	lctx, cancel := s.sendContext(ctx, t)
	inv, err := s.opt.Node.LookupInvoice(lctx, hash)
	cancel()
	switch {
	case errors.Is(err, lightning.ErrNotFound):
		return refuse(reasonPaymentRefused, "the node does not know the invoice")
	case err != nil:
		s.noteOutgoing(ctx, "send", t, "look up our own node's invoice to pay it by the books; left to the resolver", err)
		return t, nil
	case inv.State != lightning.InvoiceOpen:
		return refuse(reasonPaymentRefused, "the invoice is not open", "state", inv.State)
	case !s.clock.Now().Before(inv.ExpiresAt):
		return refuse(reasonInvoiceExpired, "the invoice expired")
	case inv.AmountMsat != t.Msats:
		return refuse(reasonPaymentRefused, "the invoice is for another amount", "invoice_msats", inv.AmountMsat, "msats", t.Msats)
	case sha256.Sum256(inv.Preimage[:]) != [32]byte(hash):
		// The preimage is the payer's proof of payment: a backend that
		// hides it leaves the payer none.
		return refuse(reasonPaymentRefused, "the node does not tell the invoice's preimage")
	}
	now := s.stamp()
	var (
		c    creditOutcome
		paid Transaction
	)
	err = s.db.InTx(ctx, func(tx *store.Tx) (err error) {
		if c, err = s.creditIn(ctx, tx, lightning.Invoice{PaymentHash: hash, AmountMsat: t.Msats, AmountPaidMsat: t.Msats}, now, true); err != nil {
			return err
		}
		paid = t // afresh on each attempt: finishIn changes it
		paid.Details.BookTransfer = true
		done, err := s.finishIn(ctx, tx, &paid, lightning.Payment{PaymentHash: hash, Status: lightning.StatusSucceeded,
			AmountMsat: t.Msats, Preimage: inv.Preimage}, now)
		if err == nil && !done {
			return errBookedAlready
		}
		if err == nil {
			tx.AfterCommit(s.payments.byBooks.Inc)
		}
		return err
	})
	switch {
	case errors.Is(err, errBookedAlready):
		return s.GetTransaction(ctx, t.ID)
	case errors.Is(err, errNotCreditedHere):
		return refuse(reasonPaymentRefused, "its payee cannot be credited", "err", err)
	case errors.Is(err, ledger.ErrOverflow):
		return refuse(reasonPaymentRefused, "the payee's balance would exceed its cap", "err", err)
	case err != nil:
		s.noteOutgoing(ctx, "book", t, "pay our own node's invoice by the books; left PROCESSING, tried again by the resolver", err)
		return t, nil
	}
	s.credited(ctx, c)
	s.finished(ctx, paid)
	s.cancelBooked(ctx, hash)
	return paid, nil
}

// cancelBooked cancels our node's invoice with payment hash hash, which
// payHere has paid by the books: the payee was credited, and the
// invoice, still open, would take a second payment nothing waits for.
// It is hygiene, not part of the payment: a node that cannot cancel
// invoices (lightning.InvoiceCanceler; lnd without its invoices
// sub-server) or does not answer leaves the invoice to expire, and is
// only logged.
func (s *Service) cancelBooked(ctx context.Context, hash lightning.Hash) {
	c, ok := s.opt.Node.(lightning.InvoiceCanceler)
	if !ok {
		s.noteCancelUnsupported(fmt.Errorf("%T is not a lightning.InvoiceCanceler", s.opt.Node))
		return
	}
	err := c.CancelInvoice(ctx, hash)
	switch {
	case err == nil, errors.Is(err, lightning.ErrNotFound):
		// Unknown: payHere read it a moment ago, from another node
		// behind the same name since, or pruned; nothing to pay.
	case errors.Is(err, errors.ErrUnsupported):
		s.noteCancelUnsupported(err)
	case errors.Is(err, lightning.ErrAlreadyPaid):
		s.log.Error("the invoice of a payment made by the books was paid on the node as well: its money is booked to no one",
			"payment_hash", hash.String(), "err", err)
	default:
		s.log.Warn("cancel the invoice of a payment made by the books; it stays open until it expires",
			"payment_hash", hash.String(), "err", err)
	}
}

// noteCancelUnsupported logs, once per process, that the node cannot
// cancel the invoices of payments made by the books.
func (s *Service) noteCancelUnsupported(err error) {
	if s.cancelUnsupported.CompareAndSwap(false, true) {
		s.log.Warn("the Lightning node cannot cancel invoices: the invoices of payments between our own users, made by the books, stay open until they expire",
			"err", err)
	}
}

// notOwnInvoice refuses, at the quote, a receiver's invoice that our own
// node issued and that payHere could not pay, when the node cannot pay its
// own invoices: one no incoming payment of ours is waiting for (another
// VASP answering with an invoice of a node it shares with us, or with one
// of ours it was not given for this). It would be quoted, and fail at
// execute.
func (s *Service) notOwnInvoice(ctx context.Context, info lightning.NodeInfo, inv bolt11.Invoice) error {
	if !byBooksOnly(info, inv) {
		return nil
	}
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM uma_transactions WHERE direction = $1 AND payment_hash = $2 AND status = $3`,
		Incoming, inv.PaymentHash.String(), StatusPending).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return quoteStep.failed("the receiver's invoice pays our own Lightning node, which does not pay its own invoices, and no payment of ours waits for it")
	}
	if err != nil {
		return fmt.Errorf("read the payment of our own node's invoice: %w", err)
	}
	return nil
}
