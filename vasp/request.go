package vasp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/webhook"
)

// TypeUmaRequest is the webhook that tells the platform one of its users
// was sent an UMA request. It is vaspd's own: UMAaaS has no UMA requests.
const TypeUmaRequest = string(webhook.TypeUmaRequest)

// UmaRequest is an UMA invoice another VASP addressed to one of our users
// (UMAD-11: "pay me this"), verified and kept until the user pays or
// ignores it. Paying it is the platform's call, through lookup and quote
// with the invoice's receiver, amount and currency.
type UmaRequest struct {
	ID          string    `json:"id"`
	UserID      string    `json:"userId"`
	ReceiverUMA string    `json:"receiverUmaAddress"`
	InvoiceUUID string    `json:"invoiceUUID"`
	Invoice     string    `json:"invoice"` // bech32 as received, in lower case, without a uma:// prefix
	Amount      int64     `json:"amount"`  // smallest unit of Currency
	Currency    string    `json:"currency"`
	ExpiresAt   time.Time `json:"expiresAt"`
	CreatedAt   time.Time `json:"createdAt"`
	// Status is whether it is paid (UmaRequestPending, …), derived when
	// read from the quotes paying it, never stored (selectUmaRequests).
	Status string `json:"status"`
	// TransactionID is the payment that paid it (PAID) or is paying it
	// (PROCESSING); "" otherwise, and left out of the JSON.
	TransactionID string `json:"transactionId,omitempty"`
}

// UMA request statuses. A request is paid at most once (see payment): by
// the quotes paying it, as execute counts them, a FAILED payment given
// back to the user not counting.
const (
	// UmaRequestPending: no payment of it is in flight or COMPLETED, and
	// it has not expired: it can be paid.
	UmaRequestPending = "PENDING"
	// UmaRequestProcessing: a payment of it is in flight (its quote
	// PROCESSING), whether or not the request has expired since.
	UmaRequestProcessing = "PROCESSING"
	// UmaRequestPaid: a payment of it COMPLETED (final).
	UmaRequestPaid = "PAID"
	// UmaRequestExpired: unpaid past its expiry (ExpiresAt); it can no
	// longer be paid.
	UmaRequestExpired = "EXPIRED"
)

// ValidUmaRequestStatus reports whether s is an UMA request status.
func ValidUmaRequestStatus(s string) bool {
	switch s {
	case UmaRequestPending, UmaRequestProcessing, UmaRequestPaid, UmaRequestExpired:
		return true
	}
	return false
}

// maxExpiry is the latest invoice expiry an UMA request may have.
var maxExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// MaxUmaRequestBody bounds the body of a received UMA request.
const MaxUmaRequestBody = 16 << 10

// MaxLiveUmaRequests bounds the open (PENDING: unexpired, not paid or being
// paid) UMA requests one counterparty VASP (the domain of the invoices'
// receivers) may have kept to one of our users.
// Each is a row and a webhook to the platform; a VASP signing ever new
// invoices would otherwise grow both without bound, at whatever rate the
// UMA endpoints let it. A hundred open requests from one VASP to one person
// is far above an honest use. It is checked where the request is kept, so
// on PostgreSQL two processes keeping one at the same moment may go one or
// two over; the bound is against volume, not an exact count.
const MaxLiveUmaRequests = 100

// liveUmaRequestsQuery counts user $1's requests from the domain $4
// ("@domain", $3 bytes long) that are PENDING at $2 (selectUmaRequests):
// unexpired, and with no payment of them in flight or completed — a
// request the user paid, or is paying, is no longer one the VASP keeps
// open. It reads the user's unexpired requests only
// (uma_requests_user_expiry, migration 0625), not every one ever received,
// and each one's quotes by uma_quotes_uma_request.
const liveUmaRequestsQuery = `SELECT COUNT(*) FROM uma_requests r WHERE r.user_id = $1 AND r.expires_at > $2
	AND SUBSTR(r.receiver_uma, LENGTH(r.receiver_uma) - $3 + 1) = $4
	AND NOT EXISTS (SELECT 1 FROM uma_quotes q WHERE q.uma_request_id = r.id
		AND q.status IN ('` + QuoteProcessing + `', '` + QuoteCompleted + `'))`

// ReceiveUmaRequest handles a POST to our uma_request_endpoint: body is
// {"invoice": "uma1…"}. The invoice must be signed by its receiver's VASP
// (keys fetched from the receiver's domain), unexpired, allowed by the
// compliance policy, and addressed (senderUma) to one of our live users
// (read afresh in the transaction that keeps it, see LiveChecker).
// It is kept once per (receiver, invoiceUUID) and announced to the platform
// (UMA_REQUEST) in the same transaction; a repeat answers the same request
// without announcing it again. Errors are UMA errors for the counterparty.
func (s *Service) ReceiveUmaRequest(ctx context.Context, body []byte) (UmaRequest, error) {
	if len(body) > MaxUmaRequestBody {
		return UmaRequest{}, uma.Errorf(uma.CodeInvalidRequestFormat, "UMA request body is larger than %d bytes", MaxUmaRequestBody)
	}
	req, err := uma.ParseUmaRequest(body)
	if err != nil {
		return UmaRequest{}, err
	}
	inv, err := uma.DecodeInvoice(req.Invoice)
	if err != nil {
		return UmaRequest{}, err
	}
	recv, err := uma.ParseAddress(inv.ReceiverUMA)
	if err != nil || !recv.UMA {
		return UmaRequest{}, uma.Errorf(uma.CodeInvalidInvoice, "invoice receiverUma is not an UMA address")
	}
	// Our domain however spelt (uma.NormalizeDomain), here and below.
	if uma.SameDomain(recv.Domain, s.opt.Domain) {
		return UmaRequest{}, uma.Errorf(uma.CodeInvalidInvoice, "invoice receiver is on this VASP")
	}
	if inv.SenderUMA == "" {
		return UmaRequest{}, uma.Errorf(uma.CodeInvalidInvoice, "an UMA request must name its sender (senderUma)")
	}
	sender, err := uma.ParseAddress(inv.SenderUMA)
	if err != nil || !uma.SameDomain(sender.Domain, s.opt.Domain) {
		return UmaRequest{}, uma.Errorf(uma.CodeUserNotFound, "senderUma is not a user of %s", s.opt.Domain)
	}
	if err := s.opt.Compliance.CounterpartyAllowed(ctx, recv.Domain); err != nil {
		return UmaRequest{}, err
	}
	// Verify before looking the sender up, so an unsigned probe cannot
	// learn which of our users exist.
	if _, err := s.verifier.VerifyInvoice(ctx, inv); err != nil {
		return UmaRequest{}, err
	}
	if inv.Amount <= 0 || inv.ReceivingCurrency.Code == "" {
		return UmaRequest{}, uma.Errorf(uma.CodeInvalidInvoice, "invoice amount and currency are required")
	}
	// The signer chooses the expiry: past year 9999 it is no time we can
	// store (microseconds wrap) or render (RFC 3339).
	if inv.ExpiresAt().After(maxExpiry) {
		return UmaRequest{}, uma.Errorf(uma.CodeInvalidInvoice, "invoice expiration is after year 9999")
	}
	user, err := s.opt.Users.ByUMALocal(ctx, sender.User)
	if err != nil {
		if vaspd.AsError(err).Status == 404 {
			return UmaRequest{}, uma.Errorf(uma.CodeUserNotFound, "no user %s", sender.String())
		}
		return UmaRequest{}, err
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	r := UmaRequest{ID: vaspd.NewID(vaspd.IDUmaRequest), UserID: user.UserID, ReceiverUMA: recv.String(),
		InvoiceUUID: inv.InvoiceUUID, Invoice: uma.InvoiceString(req.Invoice),
		Amount: inv.Amount, Currency: inv.ReceivingCurrency.Code, ExpiresAt: inv.ExpiresAt().UTC(), CreatedAt: now,
		Status: UmaRequestPending} // verified unexpired, and nothing pays it yet
	recvDomain := r.ReceiverUMA[strings.LastIndexByte(r.ReceiverUMA, '@'):] // "@domain"
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// ByUMALocal may answer from a cache that a deletion or a
		// rename made by another process has not reached, and one may
		// commit since: the user is read afresh here, where the request
		// is kept and announced, and must still hold senderUma's
		// address (LiveChecker), or the request would be put to the
		// address's previous holder.
		if err := s.checkLive(ctx, tx, user.UserID, user.Local); err != nil {
			if vaspd.AsError(err).Status == 404 {
				return uma.Errorf(uma.CodeUserNotFound, "no user %s", sender.String())
			}
			return err
		}
		// repeat answers a request kept already, by this transaction's
		// first look or by a copy that committed while it ran.
		repeat := func() (bool, error) {
			prev, err := scanUmaRequest(tx.QueryRowContext(ctx, selectUmaRequests(3)+`
				WHERE receiver_uma = $1 AND invoice_uuid = $2`, r.ReceiverUMA, r.InvoiceUUID, store.Micros(now)))
			if errors.Is(err, sql.ErrNoRows) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if prev.UserID != r.UserID {
				return false, uma.Errorf(uma.CodeInvalidInvoice, "invoice %s was already requested from another user", vaspd.Truncate(r.InvoiceUUID, 40))
			}
			r = prev // a repeat: answered, not announced again
			return true, nil
		}
		if done, err := repeat(); done || err != nil {
			return err
		}
		// Counted by the user's index; the receiver's domain is the part
		// of receiver_uma after its '@' (recv.String() writes it in
		// lower case, as every row was written).
		var live int
		if err := tx.QueryRowContext(ctx, liveUmaRequestsQuery,
			r.UserID, store.Micros(now), len(recvDomain), recvDomain).Scan(&live); err != nil {
			return fmt.Errorf("count UMA requests: %w", err)
		}
		if live >= MaxLiveUmaRequests {
			s.log.Warn("UMA request over the cap refused", "user", user.UserID, "from", recv.Domain, "live", live)
			return uma.Errorf(uma.CodeForbidden, "%s has %d open UMA requests from %s, the most kept; send more when some have been paid or have expired",
				sender.String(), live, vaspd.Truncate(recv.Domain, 100))
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO uma_requests (`+umaRequestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`, r.ID, r.UserID, r.ReceiverUMA, r.InvoiceUUID, r.Invoice,
			r.Amount, r.Currency, store.Micros(r.ExpiresAt), store.Micros(r.CreatedAt))
		if err != nil {
			return fmt.Errorf("store UMA request: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store UMA request: %w", err)
		} else if n == 0 {
			// A copy of this request committed first (unique key).
			if done, err := repeat(); done || err != nil {
				return err
			}
			return fmt.Errorf("store UMA request %s: conflict without a kept request", r.InvoiceUUID)
		}
		_, err = s.opt.Webhooks.Enqueue(ctx, tx, delivery.Event{Type: TypeUmaRequest, Time: now,
			Data: &webhook.UmaRequestWebhook{UmaRequest: r.asWebhook(), PlatformUserID: user.PlatformUserID}})
		return err
	})
	if err != nil {
		return UmaRequest{}, err
	}
	return r, nil
}

// asWebhook is r as the UMA_REQUEST webhook carries it: the object
// GET /uma-requests/{id} answers, less the status GET derives when read
// (PENDING at receipt; api's TestUmaRequestWebhookParses compares the
// two).
func (r UmaRequest) asWebhook() webhook.UmaRequest {
	return webhook.UmaRequest{ID: r.ID, UserID: r.UserID, ReceiverUmaAddress: r.ReceiverUMA, InvoiceUUID: r.InvoiceUUID,
		Invoice: r.Invoice, Amount: r.Amount, Currency: r.Currency, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
}

// umaRequestColumns are the stored columns of uma_requests.
const umaRequestColumns = `id, user_id, receiver_uma, invoice_uuid, invoice, amount, currency, expires_at, created_at`

// selectUmaRequests selects UMA requests with their status and transaction
// (scanUmaRequest), derived from the quotes paying them (uma_request_id,
// migration 0490): PAID when one is COMPLETED, PROCESSING when one is
// PROCESSING (naming that quote's transaction), else EXPIRED from the
// expiry on, else PENDING; FAILED, PENDING and EXPIRED quotes do not count,
// as execute does not count them (payment.paidBy). At most one quote of a
// request is PROCESSING or COMPLETED at a time (claimPayments), but should
// there be more, COMPLETED wins, then the first transaction. Conditions on
// the stored columns, or on status, follow as a WHERE; nowParam numbers
// the placeholder of the time it is read at (Micros), which decides expiry.
func selectUmaRequests(nowParam int) string {
	paying := func(status string) string {
		return `(SELECT MIN(q.transaction_id) FROM uma_quotes q WHERE q.uma_request_id = r.id AND q.status = '` + status + `')`
	}
	return fmt.Sprintf(`SELECT `+umaRequestColumns+`, status, transaction_id FROM (
		SELECT `+umaRequestColumns+`,
			CASE WHEN paid IS NOT NULL THEN '%[2]s' WHEN paying IS NOT NULL THEN '%[3]s'
				WHEN expires_at <= $%[1]d THEN '%[4]s' ELSE '%[5]s' END AS status,
			COALESCE(paid, paying, '') AS transaction_id
		FROM (SELECT r.*, `+paying(QuoteCompleted)+` AS paid, `+paying(QuoteProcessing)+` AS paying
			FROM uma_requests r) AS paid_or_not) AS uma_requests_read`,
		nowParam, UmaRequestPaid, UmaRequestProcessing, UmaRequestExpired, UmaRequestPending)
}

func scanUmaRequest(row interface{ Scan(...any) error }) (UmaRequest, error) {
	var r UmaRequest
	var exp, created int64
	if err := row.Scan(&r.ID, &r.UserID, &r.ReceiverUMA, &r.InvoiceUUID, &r.Invoice, &r.Amount, &r.Currency, &exp, &created,
		&r.Status, &r.TransactionID); err != nil {
		return UmaRequest{}, err
	}
	r.ExpiresAt, r.CreatedAt = store.Time(exp), store.Time(created)
	return r, nil
}

// GetUmaRequest returns a received UMA request (404 UMA_REQUEST_NOT_FOUND).
func (s *Service) GetUmaRequest(ctx context.Context, id string) (UmaRequest, error) {
	notFound := vaspd.NotFound(vaspd.CodeUmaRequestNotFound, "UMA request %s not found", vaspd.Truncate(id, 80))
	id, err := vaspd.CanonicalID(vaspd.IDUmaRequest, id) // as stored
	if err != nil {
		return UmaRequest{}, notFound
	}
	r, err := scanUmaRequest(s.db.QueryRowContext(ctx, selectUmaRequests(2)+` WHERE id = $1`, id, store.Micros(s.clock.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return UmaRequest{}, notFound
	}
	if err != nil {
		return UmaRequest{}, fmt.Errorf("read UMA request: %w", err)
	}
	return r, nil
}

// UmaRequestFilter narrows ListUmaRequests; a zero field does not.
type UmaRequestFilter struct {
	UserID string
	Status string // one of the UMA request statuses (ValidUmaRequestStatus)
	// Ascending lists oldest first (UMAaaS sortOrder=asc); newest first
	// otherwise.
	Ascending bool
}

// ListUmaRequests returns the UMA requests f selects, newest first (oldest
// first with f.Ascending), after the id cursor (exclusive; "" = from the
// first), at most limit.
func (s *Service) ListUmaRequests(ctx context.Context, f UmaRequestFilter, cursor string, limit int) ([]UmaRequest, error) {
	return listRequests(ctx, s.db, "UMA requests", selectUmaRequests, scanUmaRequest, f.UserID, f.Status, f.Ascending, cursor, limit, s.clock.Now())
}

// checkUmaRequest checks that quote request in pays UMA request
// in.UmaRequestID of its user, not paid yet (409 QUOTE_ALREADY_EXECUTED
// when another quote paid it or is paying it), whose receiver the lookup
// found, and returns
// it with the invoice's commentCharsAllowed (0: not given): the quote names
// its invoiceUUID and expires with it (ExpiresAt). offered are
// the currencies of the lookup: the invoice's amount must be in the unit
// (decimals) the lookup gives its currency, the unit the payreq asks in.
func (s *Service) checkUmaRequest(ctx context.Context, in QuoteRequest, receiver string, offered []uma.Currency) (UmaRequest, int, error) {
	r, err := s.GetUmaRequest(ctx, in.UmaRequestID)
	if err != nil {
		return UmaRequest{}, 0, err
	}
	if r.UserID != in.UserID {
		return UmaRequest{}, 0, vaspd.NotFound(vaspd.CodeUmaRequestNotFound, "UMA request %s not found for this user", r.ID)
	}
	// Paid, or being paid, by another quote: refused before any payreq
	// (execute refuses it too, whatever quote made in between).
	if err := umaRequestPayment(r.ID).refuseIfPaid(ctx, s.db); err != nil {
		return UmaRequest{}, 0, err
	}
	if !strings.EqualFold(r.ReceiverUMA, receiver) {
		return UmaRequest{}, 0, vaspd.InvalidInput("the lookup is of %s; UMA request %s is from %s", receiver, r.ID, r.ReceiverUMA)
	}
	if in.LockedSide != LockedReceiving || in.ReceivingCurrency != r.Currency || in.Amount != r.Amount {
		return UmaRequest{}, 0, vaspd.InvalidInput("UMA request %s is paid receiver-locked: lockedCurrencySide RECEIVING, %d %s", r.ID, r.Amount, r.Currency)
	}
	if !s.clock.Now().Before(r.ExpiresAt) {
		return UmaRequest{}, 0, vaspd.Errorf(409, "QUOTE_EXPIRED", "UMA request %s expired at %s", r.ID, r.ExpiresAt.Format(time.RFC3339))
	}
	// Kept as received, verified then: it decodes again.
	inv, err := uma.DecodeInvoice(r.Invoice)
	if err != nil {
		return UmaRequest{}, 0, fmt.Errorf("UMA request %s: stored invoice: %w", r.ID, err)
	}
	// The quote asks the receiver for r.Amount in the lookup's smallest
	// unit: an invoice counting in another (cents against whole euros)
	// would pay a power of ten more, or less, than it requests. Both are
	// the receiver's VASP's word: contradicting itself, it failed the
	// quote (424), before any payreq.
	if c, ok := uma.FindCurrency(offered, r.Currency); ok && c.Decimals != inv.ReceivingCurrency.Decimals {
		return UmaRequest{}, 0, quoteStep.failed("UMA request %s is for %d %s with %d decimals; the receiver's lookup gives %s %d decimals",
			r.ID, r.Amount, r.Currency, inv.ReceivingCurrency.Decimals, c.Code, c.Decimals)
	}
	return r, inv.CommentCharsAllowed, nil
}
