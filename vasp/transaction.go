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
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// Transaction directions and statuses (UMAaaS words).
const (
	Incoming = "INCOMING"
	Outgoing = "OUTGOING"

	StatusCreated    = "CREATED"    // incoming: waiting for the platform's approval
	StatusPending    = "PENDING"    // incoming: invoice issued, waiting for payment
	StatusProcessing = "PROCESSING" // outgoing: payment sent, waiting for its result
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusRejected   = "REJECTED"
	StatusExpired    = "EXPIRED"
)

// ValidStatus reports whether s is one of the transaction statuses.
func ValidStatus(s string) bool {
	switch s {
	case StatusCreated, StatusPending, StatusProcessing, StatusCompleted, StatusFailed, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// Transaction is one UMA payment, in or out.
type Transaction struct {
	ID             string
	Direction      string
	Status         string
	UserID         string
	PlatformUserID string
	OurAddress     string // our user's UMA address
	Counterparty   string // the other side's UMA (or Lightning) address; may be empty for plain LNURL
	QuoteID        string
	PaymentHash    string
	Invoice        string
	// Currency and Amount are our user's side: what they receive
	// (incoming) or spend (outgoing), fees included for outgoing.
	Currency string
	Amount   int64
	Msats    int64 // the invoice amount
	Fee      int64 // ours: msats for incoming (UMA converted.fee), Currency units for outgoing
	// CounterCurrency and CounterAmount are the other side's, when known.
	CounterCurrency string
	CounterAmount   int64
	FailureReason   string
	// PaymentRequestID is, for an incoming payment whose payreq named the
	// invoiceUUID of a request we issued, that request (payment_request.go).
	PaymentRequestID string
	Details          Details
	CreatedAt        time.Time
	UpdatedAt        time.Time
	SettledAt        time.Time

	// Replayed says the call that returned the transaction made nothing:
	// it answered what an earlier one did (an execute, or a sandbox
	// transfer, of a quote executed already; a sandbox payment's
	// Idempotency-Key, recorded). Not stored: the API answers it
	// Idempotent-Replayed.
	Replayed bool

	// sandbox is, for a payment of POST /sandbox/receive given an
	// Idempotency-Key, the key and the request (sandbox_receive.go),
	// recorded with the payment; written only, never read into here.
	sandbox sandboxClaim
}

// Details are kept whole as JSON: what the counterparty told us and how
// the amount was priced.
type Details struct {
	PayerData      json.RawMessage `json:"payerData,omitempty"`
	PayeeData      json.RawMessage `json:"payeeData,omitempty"`
	TravelRuleInfo string          `json:"travelRuleInfo,omitempty"` // decrypted, as received
	// EncryptedTravelRuleInfo is the sender's travel-rule data as received
	// (ECIES to our encryption key, hex), kept until it is decrypted: at
	// settlement, when the decrypted data is stored in its place, or for
	// the reader of a payment not settled (see revealTravelRule). Empty
	// once TravelRuleInfo is set, and kept when it does not decrypt.
	EncryptedTravelRuleInfo string         `json:"encryptedTravelRuleInfo,omitempty"`
	Comment                 string         `json:"comment,omitempty"`
	MsatsPerUnit            string         `json:"msatsPerUnit,omitempty"` // the locked rate, exact decimal
	ReceiverUserInfo        map[string]any `json:"receiverUserInfo,omitempty"`
	UtxoCallback            string         `json:"utxoCallback,omitempty"` // the counterparty's
	RoutingFeeMsats         int64          `json:"routingFeeMsats,omitempty"`
	// AmountPaidMsats is, for an incoming payment whose invoice was paid
	// another amount than its own, what the node received: more than
	// Msats, which the user's Amount was priced for (the excess is booked
	// to system:overpaid), or less (the payment FAILED, UNDERPAID, and
	// what arrived is booked to system:unmatched). For an outgoing one, it
	// is what the node reported paying (fees apart) when that was not the
	// invoice's amount, as booked (execute.go, finish). Absent when the
	// invoice amount was paid.
	AmountPaidMsats int64  `json:"amountPaidMsats,omitempty"`
	Preimage        string `json:"preimage,omitempty"`
	// RequiredReceiverUserInfo lists, for an incoming payment, the
	// receiverUserInfo fields (UMAaaS names) the platform's approval must
	// give: the payee data the sender asked as mandatory that vaspd does
	// not fill itself (see requiredReceiverUserInfo).
	RequiredReceiverUserInfo []string `json:"requiredReceiverUserInfo,omitempty"`
	// OriginalTransactionID is, for an outgoing payment of a retry
	// (RetryQuote), the transaction of the payment's first quote, the
	// one it retries (UMAaaS's originalTransactionId): the first
	// attempt's, as the quote's OriginalQuoteID names the first quote.
	OriginalTransactionID string `json:"originalTransactionId,omitempty"`
	// ReceivingCurrency is, for an outgoing payment, CounterCurrency as
	// the receiver described it (its quote's receivingCurrency: name,
	// symbol, decimals), which our rates file may not have. Absent on
	// payments made before it was kept: then our rates file's, or only
	// the code.
	ReceivingCurrency *rates.Currency `json:"receivingCurrency,omitempty"`
	// BookTransfer says the payment was made by our books alone, in one
	// database transaction with its other side: its payer and payee both
	// users of this vaspd, whose Lightning node does not pay its own
	// invoices (payHere). The node neither sent nor received it; the
	// reconciliation knows.
	BookTransfer bool `json:"bookTransfer,omitempty"`
}

const txColumns = `id, direction, status, user_id, platform_user_id, our_address, counterparty,
	COALESCE(quote_id, ''), COALESCE(payment_hash, ''), invoice, currency, amount, msats, fee,
	counter_currency, counter_amount, failure_reason, details, created_at, updated_at, settled_at,
	COALESCE(payment_request_id, '')`

func scanTransaction(row interface{ Scan(...any) error }) (Transaction, error) {
	var t Transaction
	var details string
	var created, updated int64
	var settled sql.NullInt64
	err := row.Scan(&t.ID, &t.Direction, &t.Status, &t.UserID, &t.PlatformUserID, &t.OurAddress, &t.Counterparty,
		&t.QuoteID, &t.PaymentHash, &t.Invoice, &t.Currency, &t.Amount, &t.Msats, &t.Fee,
		&t.CounterCurrency, &t.CounterAmount, &t.FailureReason, &details, &created, &updated, &settled,
		&t.PaymentRequestID)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(details), &t.Details); err != nil {
		return t, fmt.Errorf("transaction %s: details: %w", t.ID, err)
	}
	t.CreatedAt, t.UpdatedAt = store.Time(created), store.Time(updated)
	if settled.Valid {
		t.SettledAt = store.Time(settled.Int64)
	}
	return t, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insertTransaction records t at now with the stored approval decision
// approval (empty: none yet). A payment of a payment request
// (PaymentRequestID) is first counted against the request, in q, which
// must then be a transaction (claimPaymentRequest): it is refused when the
// request can no longer be paid now. Now, not t.CreatedAt: the payment
// was priced then, and the request may have expired while it was
// recorded (a wait for the database's writer, or for the node signing its
// invoice).
func insertTransaction(ctx context.Context, q store.Querier, t Transaction, approval string, now time.Time) error {
	if t.PaymentRequestID != "" {
		tx, ok := q.(*store.Tx)
		if !ok {
			return fmt.Errorf("record transaction %s: a payment of payment request %s is recorded in a transaction", t.ID, t.PaymentRequestID)
		}
		if err := claimPaymentRequest(ctx, tx, t, now); err != nil {
			return err
		}
	}
	details, err := json.Marshal(t.Details)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO uma_transactions (id, direction, status, user_id, platform_user_id,
		our_address, counterparty, quote_id, payment_hash, invoice, currency, amount, msats, fee,
		counter_currency, counter_amount, failure_reason, details, approval, created_at, updated_at, payment_request_id,
		sandbox_idempotency_key, sandbox_request)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$20,$21,$22,$23)`,
		t.ID, t.Direction, t.Status, t.UserID, t.PlatformUserID, t.OurAddress, t.Counterparty,
		nullable(t.QuoteID), nullable(t.PaymentHash), t.Invoice, t.Currency, t.Amount, t.Msats, t.Fee,
		t.CounterCurrency, t.CounterAmount, t.FailureReason, string(details), approval,
		store.Micros(t.CreatedAt), nullable(t.PaymentRequestID), nullable(t.sandbox.key), nullable(t.sandbox.request))
	if err != nil {
		return fmt.Errorf("record transaction: %w", err)
	}
	return nil
}

// revealTravelRule decrypts t's travel-rule data if it is still
// encrypted, reporting whether it did: with our encryption key, else with
// each previous one (Options.PreviousEncryptionKeys: the sender may have
// encrypted to a key we served before a rotation). Data that decrypts with
// none stays as received and is returned as the error: another process,
// or this one given the key later, may still decrypt it.
func (s *Service) revealTravelRule(t *Transaction) (bool, error) {
	enc := t.Details.EncryptedTravelRuleInfo
	if enc == "" || t.Details.TravelRuleInfo != "" {
		return false, nil
	}
	info, err := uma.DecryptTravelRuleInfo(s.opt.Keys.Encryption, enc)
	for _, k := range s.opt.PreviousEncryptionKeys {
		if err == nil {
			break
		}
		info, err = uma.DecryptTravelRuleInfo(k, enc)
	}
	if err != nil {
		return false, fmt.Errorf("travel-rule info of %s does not decrypt with our encryption key nor any of %d previous ones: %w",
			t.ID, len(s.opt.PreviousEncryptionKeys), err)
	}
	t.Details.TravelRuleInfo, t.Details.EncryptedTravelRuleInfo = string(info), ""
	return true, nil
}

// GetTransaction returns one transaction, its travel-rule data decrypted.
func (s *Service) GetTransaction(ctx context.Context, id string) (Transaction, error) {
	t, err := scanTransaction(s.db.QueryRowContext(ctx, `SELECT `+txColumns+` FROM uma_transactions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, vaspd.NotFound("TRANSACTION_NOT_FOUND", "transaction %s not found", id)
	}
	if err == nil {
		_, _ = s.revealTravelRule(&t) // undecryptable data stays as received
	}
	return t, err
}

// newIncoming is an incoming payment awaiting approval, not yet recorded.
func (s *Service) newIncoming(r Recipient, req *uma.PayRequest, q incomingQuote) Transaction {
	now := s.stamp()
	t := Transaction{
		ID: vaspd.NewID(vaspd.IDTransaction), Direction: Incoming, Status: StatusCreated,
		UserID: r.UserID, PlatformUserID: r.PlatformUserID, OurAddress: s.address(r.Local),
		Currency: q.rate.Currency.Code, Amount: q.conv.Amount, Msats: q.msats, Fee: q.conv.FeeMsats,
		CreatedAt: now, UpdatedAt: now,
	}
	t.Details.MsatsPerUnit = q.rate.ReceiveMultiplier().FloatString(12)
	t.Details.Comment = req.Comment // at most MaxDescriptionLen characters (checkComment)
	if req.PayerData != nil {
		// Stored normalised, so never cut (uma.MaxAddressLen): it must
		// parse again when the sender's post-transaction callback comes.
		if addr, err := uma.ParseAddress(req.PayerData.Identifier); err == nil {
			t.Counterparty = addr.String()
		} else {
			// A plain LNURL payer's free text (LUD-18): a NUL, which
			// PostgreSQL refuses in text, would fail the payment's
			// record (a 500 for every retry) rather than be kept.
			t.Counterparty = vaspd.Truncate(vaspd.Storable(req.PayerData.Identifier), 300)
		}
		t.Details.PayerData = req.PayerDataJSON()
		if c := req.PayerData.Compliance; c != nil {
			// We POST our post-transaction callback there: kept only when
			// it is a URL we may call, as a receiver's is (see quote.go).
			if cb := c.UtxoCallback; cb != "" {
				if err := checkCounterpartyURL(cb); err != nil || len(cb) > maxCallbackURL {
					s.log.Warn("sender's utxoCallback not kept", "transaction", t.ID, "counterparty", logDomain(req.PayerData.Identifier), "length", len(cb), "err", err)
				} else {
					t.Details.UtxoCallback = cb
				}
			}
			// Decrypting costs an elliptic-curve multiplication, as much
			// as verifying the payreq: it is left for when the data is
			// needed, so payreqs never paid do not pay for it.
			t.Details.EncryptedTravelRuleInfo = c.EncryptedTravelRuleInfo
		}
	}
	t.Details.RequiredReceiverUserInfo = requiredReceiverUserInfo(r, req.PayeeData)
	return t
}

// invoiceStore is a Lightning node that keeps its invoices in a database
// and can store one in the caller's transaction (lightning/embedded). When
// it shares our database, an invoice and the payment it is for are
// recorded in one transaction.
type invoiceStore interface {
	DB() *store.DB
	SignInvoice(req lightning.InvoiceRequest) (lightning.Invoice, error)
	SaveInvoice(ctx context.Context, q store.Querier, inv lightning.Invoice) error
}

// sharedInvoices returns the node as an invoiceStore on our database, or nil.
func (s *Service) sharedInvoices() invoiceStore {
	if n, ok := s.opt.Node.(invoiceStore); ok && n.DB() == s.db {
		return n
	}
	return nil
}

// approvedDecision is what an approval without a webhook endpoint stores.
var approvedDecision = func() string {
	d, _ := json.Marshal(decision{Decision: "APPROVED"})
	return string(d)
}()

// recordApproved records t, r's payment approved without asking, with its
// invoice and the payreq's nonces: when the node shares our database, in a
// single transaction (nonces, PENDING transaction with its invoice, the
// node's invoice row), so that a crash leaves either all of it or nothing
// and the invoice is handed out only once all of it is committed.
func (s *Service) recordApproved(ctx context.Context, r Recipient, t Transaction, nonces *nonceBatch, req lightning.InvoiceRequest) (lightning.Invoice, error) {
	n := s.sharedInvoices()
	if n == nil {
		// Another backend stores its invoices itself: the payment is
		// recorded (approved) first, then the invoice issued and recorded.
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := s.checkRecipient(ctx, tx, r); err != nil {
				return err
			}
			if err := s.nonces.saveDeferred(ctx, tx, nonces); err != nil {
				return err
			}
			return insertTransaction(ctx, tx, t, approvedDecision, s.clock.Now())
		}); err != nil {
			return lightning.Invoice{}, err
		}
		return s.issueInvoice(ctx, t.ID, r, req)
	}
	inv, err := n.SignInvoice(req)
	if err != nil {
		return lightning.Invoice{}, fmt.Errorf("create invoice: %w", err)
	}
	t.Status, t.PaymentHash, t.Invoice = StatusPending, inv.PaymentHash.String(), inv.PaymentRequest
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkRecipient(ctx, tx, r); err != nil {
			return err
		}
		if s.afterRecipientCheck != nil {
			s.afterRecipientCheck(r.UserID)
		}
		if err := s.nonces.saveDeferred(ctx, tx, nonces); err != nil {
			return err
		}
		if err := insertTransaction(ctx, tx, t, approvedDecision, s.clock.Now()); err != nil {
			return err
		}
		return n.SaveInvoice(ctx, tx, inv)
	})
	if err != nil {
		return lightning.Invoice{}, err
	}
	return inv, nil
}

// issueInvoice issues the invoice of the approved incoming payment id to
// r and moves it to PENDING. When the node shares our database the node's
// invoice row and the move commit together; otherwise the node stores the
// invoice first, and a payment that cannot be moved (decided otherwise in
// between) never hands its invoice out.
func (s *Service) issueInvoice(ctx context.Context, id string, r Recipient, req lightning.InvoiceRequest) (lightning.Invoice, error) {
	if s.beforeIssue != nil {
		s.beforeIssue(id)
	}
	// A recipient deleted meanwhile, or whose address was moved to
	// someone else (perhaps by another process, while the platform
	// approved), gets no invoice; the payment ends now.
	// So does a payment of a payment request cancelled or expired since
	// the approval's re-check (approvedForRequest): read again under the
	// request's row lock in the transaction that makes the payment
	// payable, which a cancellation takes too (CancelPaymentRequest), so
	// that no invoice is issued once a cancellation committed.
	gone := false
	checkLive := func(tx *store.Tx) error {
		err := s.checkRecipient(ctx, tx, r)
		var ue *uma.Error
		gone = errors.As(err, &ue) && ue.Code == uma.CodeUserNotFound
		if err != nil {
			return err
		}
		err = requestStillPayable(ctx, tx, id, s.clock.Now())
		gone = errors.As(err, &ue) && (ue.Code == uma.CodeInvalidInvoice || ue.Code == uma.CodeInvoiceExpired)
		return err
	}
	defer func() {
		if gone {
			_ = s.failIncoming(context.WithoutCancel(ctx), id, "PAY_REQUEST_FAILED")
		}
	}()
	if n := s.sharedInvoices(); n != nil {
		inv, err := n.SignInvoice(req)
		if err != nil {
			_ = s.failIncoming(context.WithoutCancel(ctx), id, "INVOICE_CREATION_FAILED")
			return lightning.Invoice{}, fmt.Errorf("create invoice: %w", err)
		}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := checkLive(tx); err != nil {
				return err
			}
			if err := n.SaveInvoice(ctx, tx, inv); err != nil {
				return err
			}
			return s.invoiceIssued(ctx, tx, id, inv)
		})
		if err != nil {
			return lightning.Invoice{}, err
		}
		return inv, nil
	}
	inv, err := s.opt.Node.CreateInvoice(ctx, req)
	if err != nil {
		_ = s.failIncoming(context.WithoutCancel(ctx), id, "INVOICE_CREATION_FAILED")
		return lightning.Invoice{}, fmt.Errorf("create invoice: %w", err)
	}
	if err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := checkLive(tx); err != nil {
			return err
		}
		return s.invoiceIssued(ctx, tx, id, inv)
	}); err != nil {
		return lightning.Invoice{}, err
	}
	return inv, nil
}

// checkLive confirms, with q, that userID is still a live user holding
// the UMA local part local ("": any), when the Directory can tell
// (LiveChecker).
func (s *Service) checkLive(ctx context.Context, q store.Querier, userID, local string) error {
	if c, ok := s.opt.Users.(LiveChecker); ok {
		return c.CheckLive(ctx, q, userID, local)
	}
	return nil
}

// checkRecipient confirms, with q, in the transaction that records an
// incoming payment to r or makes its invoice payable, that r is still
// live and still holds the address the payreq was sent to (checkLive):
// r may come from a lookup cache that has not heard of a rename or a
// deletion made by another process, or the user may have been renamed
// since, while the platform approved. The payment binds to its user
// here: what the sender paid is the address, and a payment to $alice
// made payable for X once Y holds $alice would credit X. A payreq it
// refuses is an UMA USER_NOT_FOUND, as for an address nobody holds: the
// sender may look the address up again, which finds its current holder
// (the Directory's cache has forgotten the stale entry).
//
// The read share-locks the user's row until the transaction ends (the
// Directory's CheckLive on a transaction; on SQLite the transaction
// excludes every other writer): a rename or a delete waits for this
// transaction, and a delete then sees the payment it recorded
// (BeforeUserDelete) and is refused; one that went first makes this read
// wait and find the user gone or renamed. The invoice was made payable
// while r held the address, and settlement credits r, whom it was issued
// to, whatever the address has become by then.
func (s *Service) checkRecipient(ctx context.Context, q store.Querier, r Recipient) error {
	err := s.checkLive(ctx, q, r.UserID, r.Local)
	if err != nil && vaspd.AsError(err).Status == http.StatusNotFound {
		return uma.Errorf(uma.CodeUserNotFound, "no user %s (any more): look the address up again", s.address(r.Local))
	}
	return err
}

// invoiceIssued moves an approved incoming payment to PENDING with its invoice.
func (s *Service) invoiceIssued(ctx context.Context, q store.Querier, id string, inv lightning.Invoice) error {
	res, err := q.ExecContext(ctx, `UPDATE uma_transactions SET status = $1, payment_hash = $2, invoice = $3, updated_at = $4
		WHERE id = $5 AND status = $6`,
		StatusPending, inv.PaymentHash.String(), inv.PaymentRequest, store.Micros(s.clock.Now()), id, StatusCreated)
	if err != nil {
		return fmt.Errorf("record invoice: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// Never hand out an invoice the ledger would not credit.
		return fmt.Errorf("record invoice: transaction %s is no longer waiting for one", id)
	}
	return nil
}

// failIncoming ends an approved incoming payment that never got an
// invoice, with its REJECTED webhook: the platform approved it.
func (s *Service) failIncoming(ctx context.Context, id, reason string) error {
	_, err := s.endIncoming(ctx, true, `UPDATE uma_transactions SET status = $1, failure_reason = $2, updated_at = $3
		WHERE id = $4 AND status = $5`,
		StatusRejected, reason, store.Micros(s.clock.Now()), id, StatusCreated)
	return err
}
