package vasp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// The issuing side of UMA requests (UMAD-09/11): one of our users asks to
// be paid. vaspd builds an UMA invoice naming the user as receiver and our
// payreq URL as its callback, signs it with our signing key and keeps it
// as a payment request; when the invoice names a sender (senderUma), it is
// delivered to that sender's VASP (payment_request_delivery.go). A payreq
// naming the invoice's invoiceUUID is then checked against the request
// (checkPaymentRequest, claimPaymentRequest) and its payment, once
// settled, is the request's. UMAaaS has no such resource: the names are
// vaspd's own, following /uma-requests (the requests our users receive).

// PaymentRequest is an UMA invoice we issued for one of our users.
type PaymentRequest struct {
	ID                  string    `json:"id"`
	UserID              string    `json:"userId"`
	ReceiverUMA         string    `json:"receiverUmaAddress"`         // our user, as the invoice names them
	SenderUMA           string    `json:"senderUmaAddress,omitempty"` // the payer asked, when named
	InvoiceUUID         string    `json:"invoiceUUID"`
	Invoice             string    `json:"invoice"` // bech32 uma1…
	Link                string    `json:"link"`    // uma://uma1…
	Amount              int64     `json:"amount"`  // smallest unit of Currency
	Currency            string    `json:"currency"`
	MaxNumPayments      int       `json:"maxNumPayments"`
	CommentCharsAllowed int       `json:"commentCharsAllowed,omitempty"`
	ExpiresAt           time.Time `json:"expiresAt"`
	CreatedAt           time.Time `json:"createdAt"`
	// CancelledAt is when the platform cancelled it (nil: never).
	CancelledAt *time.Time `json:"cancelledAt,omitempty"`
	// Status (PaymentRequestPending, …) and PaymentCount are derived when
	// read from the incoming payments naming it (selectPaymentRequests).
	Status       string `json:"status"`
	PaymentCount int    `json:"paymentCount"` // COMPLETED payments of it
	// Delivery is the outcome of sending it to SenderUMA's VASP.
	Delivery PaymentRequestDelivery `json:"delivery"`

	idempotencyKey string
	// receiverLocal is ReceiverUMA's local part as the user was read
	// when the request was made (not kept).
	receiverLocal string
	// Replayed: the answer to a repeated Idempotency-Key (not stored).
	Replayed bool `json:"-"`
}

// PaymentRequestDelivery is what became of sending a payment request to
// its sender's VASP (POST to its uma_request_endpoint).
type PaymentRequestDelivery struct {
	// Status is DeliveryNone (no sender named), DeliveryPending (not
	// tried yet, or a try cut short by a crash), DeliveryDelivered or
	// DeliveryFailed.
	Status string `json:"status"`
	// Code and Message say why a delivery failed: Code is an UMA error
	// code (UMA_CONFIGURATION_FETCH_ERROR, or the one the sender's VASP
	// answered).
	Code        string     `json:"code,omitempty"`
	Message     string     `json:"message,omitempty"`
	AttemptedAt *time.Time `json:"attemptedAt,omitempty"`
}

// Payment request statuses, derived when read: PAID once MaxNumPayments
// payments of it COMPLETED, else CANCELLED once cancelled, else from
// ExpiresAt on PROCESSING while a Lightning invoice issued for it may
// still be paid (a payment of it PENDING: no payreq is taken, and the
// request ends PAID if the invoice settles) and EXPIRED once none may,
// else PENDING (payable). An invoice that settles after its payment was
// ended EXPIRED (paid after all: a node whose clock is behind ours) is
// credited all the same, and counts: it can make an EXPIRED or CANCELLED
// request PAID, and its PaymentCount exceed MaxNumPayments.
const (
	PaymentRequestPending    = "PENDING"
	PaymentRequestPaid       = "PAID"
	PaymentRequestExpired    = "EXPIRED"
	PaymentRequestCancelled  = "CANCELLED"
	PaymentRequestProcessing = "PROCESSING"
)

// Delivery statuses of a payment request.
const (
	DeliveryNone      = "NONE"
	DeliveryPending   = "PENDING"
	DeliveryDelivered = "DELIVERED"
	DeliveryFailed    = "FAILED"
)

// ValidPaymentRequestStatus reports whether s is a payment request status.
func ValidPaymentRequestStatus(s string) bool {
	switch s {
	case PaymentRequestPending, PaymentRequestPaid, PaymentRequestExpired, PaymentRequestCancelled, PaymentRequestProcessing:
		return true
	}
	return false
}

// Bounds of a payment request. A short life is the platform's choice (a
// request to pay at a till, a test of expiry): the least is one second
// from now, a request expiring as it is made.
const (
	DefaultPaymentRequestLife = 24 * time.Hour
	MinPaymentRequestLife     = time.Second
	MaxPaymentRequestLife     = 30 * 24 * time.Hour
	MaxPaymentRequestPayments = 1000
)

// PaymentRequestInput asks for a payment request.
type PaymentRequestInput struct {
	UserID   string
	Amount   int64 // smallest unit of Currency
	Currency string
	// ExpiresAt defaults to DefaultPaymentRequestLife from now; it must be
	// between MinPaymentRequestLife and MaxPaymentRequestLife from now.
	ExpiresAt time.Time
	// SenderUMA names the payer ($alice@other.example): the invoice then
	// carries it (tag 9) and vaspd delivers it to that VASP.
	SenderUMA           string
	CommentCharsAllowed int // 0: the invoice sets none (our lnurlp's limit applies)
	MaxNumPayments      int // 0: 1
	IdempotencyKey      string
}

// CreatePaymentRequest builds, signs and keeps an UMA invoice asking in's
// amount for user in.UserID, and delivers it when it names a sender,
// answering it as it is once delivered (deliverAndRead). A failed delivery leaves the request kept and payable by its link; its
// Delivery says why. A repeated Idempotency-Key answers the first request
// (Replayed) as it is now, without delivering it again, before in is
// checked: a retry made after the first expired, or once its currency's
// rates went stale, still learns the request was made (and delivered).
// The same key for another request is 422.
func (s *Service) CreatePaymentRequest(ctx context.Context, in PaymentRequestInput) (PaymentRequest, error) {
	// The key is kept with the user id as stored: a userId spelt
	// otherwise (ids are read in any case) must find it too. One that
	// does not parse has none (newPaymentRequest says why), and is not
	// looked up: it may hold bytes PostgreSQL refuses in text (a NUL).
	if id, err := vaspd.CanonicalID(vaspd.IDUser, in.UserID); err == nil && in.IdempotencyKey != "" {
		lookup := in
		lookup.UserID = id
		if prev, done, err := s.replayPaymentRequest(ctx, s.db, lookup, s.clock.Now()); done || err != nil {
			return prev, err
		}
	}
	p, err := s.newPaymentRequest(ctx, in)
	if err != nil {
		return PaymentRequest{}, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// The invoice is signed for the address ByID read: a rename
		// committed since (by any process) would leave it naming an
		// address its user no longer holds, perhaps someone else's.
		if err := s.checkLive(ctx, tx, p.UserID, p.receiverLocal); err != nil {
			if vaspd.AsError(err).Status == http.StatusNotFound && s.checkLive(ctx, tx, p.UserID, "") == nil {
				return vaspd.Conflict(vaspd.CodeConflict, "the UMA address of user %s changed while the payment request was made; try again", p.UserID)
			}
			return err
		}
		// The key is read again where the request is stored: a
		// concurrent request with it may have committed meanwhile.
		in.UserID = p.UserID
		replay := func() (bool, error) {
			if p.idempotencyKey == "" {
				return false, nil
			}
			prev, done, err := s.replayPaymentRequest(ctx, tx, in, p.CreatedAt)
			if done && err == nil {
				p = prev
			}
			return done, err
		}
		if done, err := replay(); done || err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO payment_requests (`+paymentRequestColumns+`, idempotency_key)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,NULL,$14,NULL,$15,$16) ON CONFLICT DO NOTHING`,
			p.ID, p.UserID, p.ReceiverUMA, p.SenderUMA, p.InvoiceUUID, p.Invoice, p.Amount, p.Currency, p.MaxNumPayments,
			p.CommentCharsAllowed, p.Delivery.Status, "", "", store.Micros(p.ExpiresAt), store.Micros(p.CreatedAt),
			nullable(p.idempotencyKey))
		if err != nil {
			return fmt.Errorf("store payment request: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store payment request: %w", err)
		} else if n == 0 {
			// The same key committed first by a concurrent request.
			if done, err := replay(); done || err != nil {
				return err
			}
			return fmt.Errorf("store payment request %s: conflict without a kept request", p.ID)
		}
		return nil
	})
	if err != nil {
		return PaymentRequest{}, err
	}
	if p.Replayed || p.Delivery.Status != DeliveryPending {
		return p, nil
	}
	// The request is stored (and may be paid or cancelled) before the
	// payer's VASP, which takes up to counterparty-timeout twice, answers:
	// the answer is the request as it is then, as a redelivery's.
	return s.deliverAndRead(ctx, p), nil
}

// replayPaymentRequest answers the payment request in.IdempotencyKey
// made for in.UserID, read with q at now (done), if there is one: 422
// IDEMPOTENCY_KEY_REUSED when in asks another (its amount, currency,
// sender, maxNumPayments, commentCharsAllowed, or an expiresAt given and
// not the request's; without one the first's stands, as a default would
// differ from one retry to the next).
func (s *Service) replayPaymentRequest(ctx context.Context, q store.Querier, in PaymentRequestInput, now time.Time) (PaymentRequest, bool, error) {
	prev, err := scanPaymentRequest(q.QueryRowContext(ctx, selectPaymentRequests(3)+`
		WHERE user_id = $1 AND idempotency_key = $2`, in.UserID, in.IdempotencyKey, store.Micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return PaymentRequest{}, false, nil
	}
	if err != nil {
		return PaymentRequest{}, false, fmt.Errorf("read payment request by idempotency key: %w", err)
	}
	in = in.normalized()
	if prev.Amount != in.Amount || prev.Currency != in.Currency || !strings.EqualFold(prev.SenderUMA, in.SenderUMA) ||
		prev.MaxNumPayments != in.MaxNumPayments || prev.CommentCharsAllowed != in.CommentCharsAllowed ||
		!in.ExpiresAt.IsZero() && !prev.ExpiresAt.Equal(in.ExpiresAt) {
		return PaymentRequest{}, true, vaspd.Errorf(http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused,
			"this Idempotency-Key was already used for another payment request")
	}
	prev.Replayed = true
	return prev, true, nil
}

// normalized is in as a request stores it, so far as in says without
// the clock or the database: the currency upper-cased, maxNumPayments 1
// when not given, the payer's address as parsed, and an expiresAt given
// in whole seconds (the invoice says seconds). A retry's input is
// compared with the request its key made in this form.
func (in PaymentRequestInput) normalized() PaymentRequestInput {
	in.Currency = strings.ToUpper(in.Currency)
	if in.MaxNumPayments == 0 {
		in.MaxNumPayments = 1
	}
	if a, err := uma.ParseUMAAddress(in.SenderUMA); err == nil {
		in.SenderUMA = a.String()
	}
	if !in.ExpiresAt.IsZero() {
		in.ExpiresAt = in.ExpiresAt.UTC().Truncate(time.Second)
	}
	return in
}

// newPaymentRequest checks in and builds its signed invoice; nothing is stored.
func (s *Service) newPaymentRequest(ctx context.Context, in PaymentRequestInput) (PaymentRequest, error) {
	in = in.normalized()
	var err error
	if in.UserID, err = vaspd.CanonicalID(vaspd.IDUser, in.UserID); err != nil {
		return PaymentRequest{}, vaspd.InvalidInput("userId: %v", err)
	}
	if in.Amount <= 0 {
		return PaymentRequest{}, vaspd.InvalidInput("amount must be a positive integer in the currency's smallest unit")
	}
	if in.MaxNumPayments < 1 || in.MaxNumPayments > MaxPaymentRequestPayments {
		return PaymentRequest{}, vaspd.InvalidInput("maxNumPayments must be between 1 and %d", MaxPaymentRequestPayments)
	}
	if in.CommentCharsAllowed < 0 || in.CommentCharsAllowed > MaxDescriptionLen {
		return PaymentRequest{}, vaspd.InvalidInput("commentCharsAllowed must be between 0 and %d", MaxDescriptionLen)
	}
	// The id is made with createdAt: lists order by id, and createdAt
	// must agree; the user's read below may take a while, during which
	// other requests are made (as for an outgoing transaction: execute.go).
	now, id := s.stamp(), vaspd.NewID(vaspd.IDPaymentRequest)
	exp := in.ExpiresAt
	if exp.IsZero() {
		// Whole seconds: the invoice says seconds, and the request
		// expires when its invoice says.
		exp = now.Add(DefaultPaymentRequestLife).UTC().Truncate(time.Second)
	}
	if exp.Before(now.Add(MinPaymentRequestLife)) || exp.After(now.Add(MaxPaymentRequestLife)) {
		return PaymentRequest{}, vaspd.InvalidInput("expiresAt must be between %s and %s from now", MinPaymentRequestLife, MaxPaymentRequestLife)
	}
	user, err := s.opt.Users.ByID(ctx, in.UserID)
	if err != nil {
		return PaymentRequest{}, err
	}
	p := PaymentRequest{ID: id, UserID: user.UserID, ReceiverUMA: s.address(user.Local),
		InvoiceUUID: uuid.NewString(), Amount: in.Amount, Currency: in.Currency, MaxNumPayments: in.MaxNumPayments,
		CommentCharsAllowed: in.CommentCharsAllowed, ExpiresAt: exp, CreatedAt: now, Status: PaymentRequestPending,
		Delivery: PaymentRequestDelivery{Status: DeliveryNone}, idempotencyKey: in.IdempotencyKey, receiverLocal: user.Local}
	if in.SenderUMA != "" {
		sender, err := uma.ParseUMAAddress(in.SenderUMA)
		if err != nil {
			return PaymentRequest{}, vaspd.InvalidInput("senderUmaAddress: %s", uma.AsError(err).Reason)
		}
		// However spelt ("x.example.", "x.example:443" are ours too:
		// uma.NormalizeDomain).
		if uma.SameDomain(sender.Domain, s.opt.Domain) {
			return PaymentRequest{}, vaspd.InvalidInput("senderUmaAddress %s is on this VASP: ask another VASP's user", sender.String())
		}
		if err := s.opt.Compliance.CounterpartyAllowed(ctx, sender.Domain); err != nil {
			return PaymentRequest{}, vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
		}
		p.SenderUMA, p.Delivery.Status = sender.String(), DeliveryPending
	}
	cur, err := s.requestCurrency(ctx, user, p.Currency, p.Amount)
	if err != nil {
		return PaymentRequest{}, err
	}
	inv := &uma.Invoice{ReceiverUMA: p.ReceiverUMA, InvoiceUUID: p.InvoiceUUID, Amount: p.Amount, ReceivingCurrency: cur,
		Expiration: exp.Unix(), IsSubjectToTravelRule: true, RequiredPayerData: s.payerData,
		UmaVersions: uma.Version1.String(), CommentCharsAllowed: p.CommentCharsAllowed, SenderUMA: p.SenderUMA,
		MaxNumPayments: p.MaxNumPayments, KycStatus: user.kycStatus(), Callback: s.payreqURL(user.Local)}
	// Sign and Encode fail on an invoice too long for the SDKs' readers
	// (127 bytes a field, 512 in all): a long sender address or callback.
	if err := inv.Sign(s.opt.Keys.Signing); err != nil {
		return PaymentRequest{}, vaspd.InvalidInput("the invoice cannot be made: %s", uma.AsError(err).Reason)
	}
	if p.Invoice, err = inv.Encode(); err != nil {
		return PaymentRequest{}, vaspd.InvalidInput("the invoice cannot be encoded: %s", uma.AsError(err).Reason)
	}
	p.Link = "uma://" + p.Invoice
	return p, nil
}

// requestCurrency is the invoice's currency code for amount: one user can
// receive, priced now, amount within the range its lookup advertises
// (receivable: a rates file's max of 0 is 2^53, as a payreq reads it,
// narrowed to the msats we accept): what a payreq for it is refused
// otherwise.
func (s *Service) requestCurrency(ctx context.Context, user Recipient, code string, amount int64) (uma.InvoiceCurrency, error) {
	offered, rs, err := s.currencies(ctx, user)
	if err != nil {
		if e := uma.AsError(err); e.Code == uma.CodeUserNotReady {
			return uma.InvoiceCurrency{}, &vaspd.Error{Status: http.StatusServiceUnavailable, Code: vaspd.CodeUnavailable, Message: e.Reason, Err: err}
		}
		return uma.InvoiceCurrency{}, err
	}
	i := slices.IndexFunc(offered, func(c uma.Currency) bool { return c.Code == code })
	if i < 0 {
		return uma.InvoiceCurrency{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency,
			"the user cannot receive %q", vaspd.Truncate(code, 16))
	}
	c, rate := offered[i], rs[i]
	conv, err := rate.ReceiveForAmount(amount)
	if amount < c.Convertible.Min || amount > c.Convertible.Max || err != nil || conv.Msats < s.opt.MinSendableMsats || conv.Msats > s.opt.MaxSendableMsats {
		return uma.InvoiceCurrency{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
			"%d %s is outside what the user can receive: %d to %d", amount, code, c.Convertible.Min, c.Convertible.Max)
	}
	return uma.InvoiceCurrency{Code: c.Code, Name: c.Name, Symbol: c.Symbol, Decimals: c.Decimals}, nil
}

// payreqURL is the payreq callback of our user local (Lnurlp's).
func (s *Service) payreqURL(local string) string {
	return s.opt.BaseURL + "/api/uma/payreq/" + url.PathEscape(local)
}

// paymentRequestColumns are the stored columns of payment_requests, less
// idempotency_key.
const paymentRequestColumns = `id, user_id, receiver_uma, sender_uma, invoice_uuid, invoice, amount, currency,
	max_num_payments, comment_chars_allowed, delivery_status, delivery_code, delivery_message, delivery_attempted_at,
	expires_at, cancelled_at, created_at`

// selectPaymentRequests selects payment requests with their derived
// status and count of COMPLETED payments (scanPaymentRequest); conditions
// follow as a WHERE (on the stored columns, status or payment_count);
// nowParam numbers the placeholder of the time read at (Micros).
func selectPaymentRequests(nowParam int) string {
	return fmt.Sprintf(`SELECT `+paymentRequestColumns+`, idempotency_key, status, payment_count FROM (
		SELECT p.*, CASE WHEN payment_count >= max_num_payments THEN '%[2]s'
				WHEN cancelled_at IS NOT NULL THEN '%[3]s'
				WHEN expires_at <= $%[1]d AND EXISTS (SELECT 1 FROM uma_transactions t WHERE t.payment_request_id = p.id
					AND t.status = '%[8]s') THEN '%[7]s'
				WHEN expires_at <= $%[1]d THEN '%[4]s' ELSE '%[5]s' END AS status
		FROM (SELECT r.*, (SELECT COUNT(*) FROM uma_transactions t WHERE t.payment_request_id = r.id
				AND t.status = '%[6]s') AS payment_count
			FROM payment_requests r) AS p) AS payment_requests_read`,
		nowParam, PaymentRequestPaid, PaymentRequestCancelled, PaymentRequestExpired, PaymentRequestPending, StatusCompleted,
		PaymentRequestProcessing, StatusPending)
}

func scanPaymentRequest(row interface{ Scan(...any) error }) (PaymentRequest, error) {
	var p PaymentRequest
	var attempted, cancelled sql.NullInt64
	var key sql.NullString
	var exp, created int64
	if err := row.Scan(&p.ID, &p.UserID, &p.ReceiverUMA, &p.SenderUMA, &p.InvoiceUUID, &p.Invoice, &p.Amount, &p.Currency,
		&p.MaxNumPayments, &p.CommentCharsAllowed, &p.Delivery.Status, &p.Delivery.Code, &p.Delivery.Message, &attempted,
		&exp, &cancelled, &created, &key, &p.Status, &p.PaymentCount); err != nil {
		return PaymentRequest{}, err
	}
	p.Link, p.ExpiresAt, p.CreatedAt, p.idempotencyKey = "uma://"+p.Invoice, store.Time(exp), store.Time(created), key.String
	if attempted.Valid {
		t := store.Time(attempted.Int64)
		p.Delivery.AttemptedAt = &t
	}
	if cancelled.Valid {
		t := store.Time(cancelled.Int64)
		p.CancelledAt = &t
	}
	return p, nil
}

// GetPaymentRequest returns a payment request (404 PAYMENT_REQUEST_NOT_FOUND).
func (s *Service) GetPaymentRequest(ctx context.Context, id string) (PaymentRequest, error) {
	return s.getPaymentRequest(ctx, s.db, id)
}

func (s *Service) getPaymentRequest(ctx context.Context, q store.Querier, id string) (PaymentRequest, error) {
	notFound := vaspd.NotFound(vaspd.CodePaymentRequestNotFound, "payment request %s not found", vaspd.Truncate(id, 80))
	id, err := vaspd.CanonicalID(vaspd.IDPaymentRequest, id) // as stored
	if err != nil {
		return PaymentRequest{}, notFound
	}
	p, err := scanPaymentRequest(q.QueryRowContext(ctx, selectPaymentRequests(2)+` WHERE id = $1`, id, store.Micros(s.clock.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return PaymentRequest{}, notFound
	}
	if err != nil {
		return PaymentRequest{}, fmt.Errorf("read payment request: %w", err)
	}
	return p, nil
}

// PaymentRequestFilter narrows ListPaymentRequests; a zero field does not.
type PaymentRequestFilter struct {
	UserID string
	Status string // ValidPaymentRequestStatus
	// Ascending lists oldest first (UMAaaS sortOrder=asc); newest first
	// otherwise.
	Ascending bool
}

// ListPaymentRequests returns the payment requests f selects, newest
// first (oldest first with f.Ascending), after the id cursor (exclusive;
// "" = from the first), at most limit.
func (s *Service) ListPaymentRequests(ctx context.Context, f PaymentRequestFilter, cursor string, limit int) ([]PaymentRequest, error) {
	return listRequests(ctx, s.db, "payment requests", selectPaymentRequests, scanPaymentRequest, f.UserID, f.Status, f.Ascending, cursor, limit, s.clock.Now())
}

// CancelPaymentRequest cancels a PENDING payment request: payreqs naming
// its invoice are refused from then on (claimPaymentRequest reads the
// cancellation under the same row lock), and so is the invoice of a
// payment still being approved (issueInvoice, requestStillPayable). One
// with a Lightning invoice out (a payment of it PENDING) is 409: that
// invoice may still be paid, and a cancelled request must not be; the
// platform cancels once the payment ended. Cancelling a cancelled request
// answers it again; a PAID, PROCESSING or EXPIRED one is 409.
func (s *Service) CancelPaymentRequest(ctx context.Context, id string) (PaymentRequest, error) {
	var p PaymentRequest
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = s.getPaymentRequest(ctx, tx, id); err != nil {
			return err
		}
		switch p.Status {
		case PaymentRequestCancelled:
			return nil
		case PaymentRequestPaid, PaymentRequestExpired, PaymentRequestProcessing:
			return vaspd.Conflict(vaspd.CodePaymentRequestNotPending, "payment request %s is %s: it cannot be cancelled", id, p.Status)
		}
		now := s.stamp()
		// Locks the row, as a payreq's claim does.
		if _, err := tx.ExecContext(ctx, `UPDATE payment_requests SET cancelled_at = $1 WHERE id = $2 AND cancelled_at IS NULL`,
			store.Micros(now), p.ID); err != nil { // p.ID: as stored, whatever the case of id
			return fmt.Errorf("cancel payment request: %w", err)
		}
		if p, err = s.getPaymentRequest(ctx, tx, id); err != nil {
			return err
		}
		// Paid meanwhile (a settlement committed since the first read):
		// the cancellation is undone with the transaction.
		if p.Status != PaymentRequestCancelled {
			return vaspd.Conflict(vaspd.CodePaymentRequestNotPending, "payment request %s is %s: it cannot be cancelled", id, p.Status)
		}
		// Read under the row lock the UPDATE took, which an invoice's
		// issuance takes too: none is issued after this read.
		var out string
		err = tx.QueryRowContext(ctx, `SELECT id FROM uma_transactions WHERE payment_request_id = $1 AND status = $2 ORDER BY id LIMIT 1`,
			p.ID, StatusPending).Scan(&out)
		switch {
		case err == nil:
			return vaspd.Conflict(vaspd.CodePaymentRequestNotPending,
				"payment request %s has a Lightning invoice out that may still be paid (transaction %s): cancel it once that payment ends", p.ID, out)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read the payments in flight of payment request %s: %w", p.ID, err)
		}
		return nil
	})
	if err != nil {
		return PaymentRequest{}, err
	}
	return p, nil
}
