package vasp

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// The sending side, step 2: a quote. We send the receiver a signed payreq
// with our user's payer data and encrypted travel-rule information, verify
// its signed answer, check the invoice against what we asked for, and lock
// our own rate until the invoice expires.

// Locked sides of a quote.
const (
	LockedSending   = "SENDING"   // the sender spends exactly Amount of the sending currency
	LockedReceiving = "RECEIVING" // the receiver gets exactly Amount of the receiving currency
)

// maxQuoteLife bounds how long a quote locks our rate. A quote expires
// before the receiver's invoice (quoteExpiry), but the receiver chooses that invoice's
// expiry (BOLT11 allows a year, and a timestamp in the future): past this
// the platform refreshes the quote.
const maxQuoteLife = time.Hour

// maxCallbackURL bounds a counterparty's utxoCallback URL.
const maxCallbackURL = 2000

// maxPayeeName bounds the payee name we store, in bytes (as our own users'
// names); a longer one is cut on a character boundary.
const maxPayeeName = 256

// MaxDescriptionLen bounds a quote's description, in characters: it is
// sent to the receiver as the payreq's LUD-12 comment, whose limit
// (commentAllowed) counts characters, commonly 255. The UMAaaS API sets
// no limit; a longer one is refused, never cut. The receiver's own
// commentAllowed applies too (commentFor).
const MaxDescriptionLen = 255

// Quote statuses.
const (
	QuotePending    = "PENDING"
	QuoteProcessing = "PROCESSING"
	QuoteCompleted  = "COMPLETED"
	QuoteFailed     = "FAILED"
	QuoteExpired    = "EXPIRED"
)

// QuoteRequest asks for a quote.
type QuoteRequest struct {
	LookupID          string
	UserID            string // our sending user; must be the lookup's
	SendingCurrency   string
	ReceivingCurrency string
	LockedSide        string
	Amount            int64 // smallest unit of the locked side's currency
	Description       string
	// UmaRequestID pays an UMA request our user received (see
	// ReceiveUmaRequest): the lookup must be of its receiver, the quote
	// receiver-locked to its amount and currency, and the payreq names its
	// invoice (invoiceUUID) so the receiver knows what is paid. The quote
	// also records it in a column of its own (uma_request_id): the
	// request is paid at most once (see payment).
	UmaRequestID string `json:",omitempty"`
	// SenderUserInfo is the payer data the platform gives for the
	// receiver's requiredPayerDataFields, by UMAaaS name (FULL_NAME,
	// EMAIL, NATIONALITY, …; see senderPayerData). It is kept with the
	// quote, so a refresh sends it again.
	SenderUserInfo map[string]any `json:",omitempty"`
	// OriginalQuoteID makes the quote a retry of that FAILED payment
	// (RetryQuote); its own column, not kept in the details.
	OriginalQuoteID string `json:"-"`
	// AutoRefresh (vaspd's own) asks that the quote's terms be renewed in
	// place shortly before its invoice expires, while it is held
	// (refresh.go). Kept with the request, so a refresh or retry of the
	// quote asks it too.
	AutoRefresh bool `json:",omitempty"`
}

// Quote is a locked price for paying a receiver.
type Quote struct {
	ID                string
	LookupID          string
	UserID            string
	Receiver          string
	Status            string
	LockedSide        string
	SendingCurrency   string
	SendingAmount     int64 // debited from the user, our fee included
	Fee               int64 // our fee, in the sending currency
	ReceivingCurrency string
	ReceivingAmount   int64
	Msats             int64 // the invoice amount
	ReceiverFeeMsats  int64
	Invoice           string
	PaymentHash       string
	TransactionID     string
	// OriginalQuoteID is, for a retry (RetryQuote) or a refresh of one,
	// the first quote of the payment it retries; "" otherwise.
	OriginalQuoteID string
	Request         QuoteRequest
	ExpiresAt       time.Time
	CreatedAt       time.Time
	// AutoRefresh is whether the quote's terms are renewed in place
	// before its invoice expires (refresh.go); RefreshCount is how many
	// times they were, RefreshedAt the last time (zero: never).
	AutoRefresh  bool
	RefreshCount int
	RefreshedAt  time.Time
	// AutoRefreshStopped says why a quote made with autoRefresh no longer
	// auto-refreshes (AutoRefresh false): RefreshStoppedPriceChanged,
	// RefreshStoppedUserDeleted or RefreshStoppedReplaced; "" otherwise.
	AutoRefreshStopped string
	// The currencies in full (name, symbol, decimals): the sending one
	// from our rates, the receiving one as the receiver advertised it.
	SendingCurrencyInfo, ReceivingCurrencyInfo rates.Currency

	utxoCallback string         // the receiver's, from the payreq answer
	payeeData    map[string]any // the receiver's answer's, as kept (LUD-22 keys)
	// initial is the terms the quote was made with, which bound its
	// auto-refreshes (refresh_bound.go); nil for a quote made before they
	// were kept.
	initial *quoteAmounts
	payer   *payerTold // who the receiver was told pays (payer_told.go)
	// replacedBy is the new quote a refresh made of this one, which
	// expired it (RefreshQuote); "" otherwise.
	replacedBy string
}

type quoteDetails struct {
	Receiver         string       `json:"receiver"`
	ReceiverFeeMsats int64        `json:"receiverFeeMsats"`
	UtxoCallback     string       `json:"utxoCallback,omitempty"`
	PayeeData        any          `json:"payeeData,omitempty"`
	Request          QuoteRequest `json:"request"`
	MsatsPerUnit     string       `json:"msatsPerUnit"`
	// Sending and Receiving are the currencies' details when quoted;
	// quotes recorded before they were kept have none.
	Sending   *rates.Currency `json:"sending,omitempty"`
	Receiving *rates.Currency `json:"receiving,omitempty"`
	Payer     *payerTold      `json:"payer,omitempty"` // UMA quotes: who the payreq said pays
	// ReplacedBy is the quote POST /quotes/{id}/refresh made of this one
	// (RefreshQuote), which replaced it.
	ReplacedBy string `json:"replacedBy,omitempty"`
}

// CounterpartyInformation is what the receiver told us about its user
// (its payee data: identifier, name), by UMAaaS field name; nil for a
// plain Lightning Address.
func (q Quote) CounterpartyInformation() map[string]any { return counterpartyFields(q.payeeData) }

func quoteInput(m string, args ...any) error {
	return vaspd.InvalidInput(m, args...)
}

// CreateQuote asks the receiver of lookup for an invoice and locks a price.
func (s *Service) CreateQuote(ctx context.Context, in QuoteRequest) (Quote, error) {
	if in.AutoRefresh && in.UmaRequestID != "" {
		// The payreq names the request's invoice (invoiceUUID), which the
		// receiver issued to be paid once and which expires on its own: a
		// fresh payreq for it every few minutes would ask the receiver for
		// more invoices for one request, and the quote cannot outlive the
		// request anyway.
		return Quote{}, quoteInput("autoRefresh cannot be used with umaRequestId: a quote paying an UMA request expires with the request; refresh it with POST /quotes/{id}/refresh")
	}
	q, details, err := s.newQuote(ctx, in)
	if err != nil {
		return Quote{}, err
	}
	if err := insertQuote(ctx, s.db, q, details); err != nil {
		return Quote{}, err
	}
	return q, nil
}

// newQuote prices a new quote for in (quoteTerms), with its id, and
// returns it with its stored details; nothing is stored.
func (s *Service) newQuote(ctx context.Context, in QuoteRequest) (Quote, string, error) {
	now := s.stamp()
	q, details, err := s.quoteTerms(ctx, in, vaspd.NewID(vaspd.IDQuote), now, now)
	if err != nil {
		return Quote{}, "", err
	}
	q.AutoRefresh = in.AutoRefresh
	// The terms shown for this quote id: its auto-refreshes are bounded
	// by them (refresh_bound.go), a manual refresh's new quote by its own.
	initial := q.amounts()
	q.initial = &initial
	return q, details, nil
}

// execer is a *store.DB or a *store.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// insertQuote records the new quote q (newQuote) with its details.
func insertQuote(ctx context.Context, db execer, q Quote, details string) error {
	_, err := db.ExecContext(ctx, `INSERT INTO uma_quotes (id, lookup_id, user_id, status, locked_side, sending_currency,
		sending_amount, fee, receiving_currency, receiving_amount, msats, invoice, payment_hash, details, expires_at, created_at, updated_at,
		original_quote_id, uma_request_id, auto_refresh, initial_sending_amount, initial_receiving_amount)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$16,$17,$18,$19,$20,$21)`,
		q.ID, q.LookupID, q.UserID, q.Status, q.LockedSide, q.SendingCurrency, q.SendingAmount, q.Fee,
		q.ReceivingCurrency, q.ReceivingAmount, q.Msats, q.Invoice, q.PaymentHash, details,
		store.Micros(q.ExpiresAt), store.Micros(q.CreatedAt), nullable(q.OriginalQuoteID), nullable(q.Request.UmaRequestID), q.AutoRefresh,
		q.initial.Debit, q.initial.Credit)
	if err != nil {
		return fmt.Errorf("record quote: %w", err)
	}
	return nil
}

// quoteTerms prices in for quote id, created at createdAt: it sends the
// receiver a payreq and checks its answer, returning the quote's terms
// (invoice, amounts, fee, expiry) and its stored details. termsAt is when
// the terms are made (createdAt for a new quote, the refresh's time for
// an auto-refresh): our rate stays locked at most maxQuoteLife from then.
// Nothing is stored.
func (s *Service) quoteTerms(ctx context.Context, in QuoteRequest, id string, createdAt, termsAt time.Time) (Quote, string, error) {
	if in.LockedSide != LockedSending && in.LockedSide != LockedReceiving {
		return Quote{}, "", quoteInput("lockedCurrencySide must be SENDING or RECEIVING")
	}
	if in.Amount <= 0 {
		return Quote{}, "", quoteInput("lockedCurrencyAmount must be a positive integer in the currency's smallest unit")
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > MaxDescriptionLen {
		return Quote{}, "", quoteInput("description must be at most %d characters of UTF-8 text", MaxDescriptionLen)
	}
	// It is shown to the receiver and its user (the payreq's comment) and
	// to ours: no control character but a line break or tab (NUL, ESC
	// and its terminal sequences), no bidi control reordering what
	// follows it.
	if i := strings.IndexFunc(in.Description, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\t' || vaspd.IsBidiControl(r)
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(in.Description[i:])
		return Quote{}, "", quoteInput("description holds the control character %U at byte %d: only printable text, line breaks and tabs", r, i)
	}
	if in.OriginalQuoteID != "" {
		// A retry (or a refresh of one, manual or auto) of a payment
		// another of its quotes paid, or is paying, is not priced: no
		// execute would pay it (claimPayments), and the receiver would be
		// sent a payreq, its platform an approval webhook, for nothing.
		if err := retryOf(in.OriginalQuoteID).refuseIfPaid(ctx, s.db); err != nil {
			return Quote{}, "", err
		}
	}
	l, err := s.getLookup(ctx, in.LookupID, in.UserID)
	if err != nil {
		return Quote{}, "", err
	}
	if in.UserID == "" {
		in.UserID = l.UserID
	}
	if isLightningAddress(l.Receiver) {
		return s.plainQuoteTerms(ctx, in, l, id, createdAt, termsAt)
	}
	sender, err := s.opt.Users.ByID(ctx, in.UserID)
	if err != nil {
		return Quote{}, "", err
	}
	payer, err := senderPayerData(l.Response.PayerData, sender.Name, in.SenderUserInfo)
	if err != nil {
		return Quote{}, "", err
	}
	var umaReq UmaRequest // the UMA request paid, if any
	commentAllowed := l.Response.CommentAllowed
	if in.UmaRequestID != "" {
		var invoiceComments int
		if umaReq, invoiceComments, err = s.checkUmaRequest(ctx, in, l.Receiver, l.Response.Currencies); err != nil {
			return Quote{}, "", err
		}
		// The invoice's commentCharsAllowed is the receiver's word for
		// this payment: it applies, within the lookup's limit if any. An
		// invoice cannot say "no comments" (0 is not encoded), so without
		// it the lookup's limit stands.
		if invoiceComments > 0 && (commentAllowed <= 0 || invoiceComments < commentAllowed) {
			commentAllowed = invoiceComments
		}
	}
	comment, err := commentFor(in.Description, commentAllowed)
	if err != nil {
		return Quote{}, "", err
	}
	rate, theirs, receiver, err := s.quoteParties(ctx, in, l, uma.ParseUMAAddress)
	if err != nil {
		return Quote{}, "", err
	}
	keys, err := s.verifier.Keys.PublicKeys(ctx, receiver.Domain)
	if err != nil && timedOut(err) {
		return Quote{}, "", vaspd.FailedDependency(vaspd.CodeCounterpartyPubkeyFetch, "quote: the receiver's VASP did not serve its public keys within %s (counterparty-timeout)", s.opt.CounterpartyTimeout).
			WithDetails(map[string]any{"unreachable": true, "timedOut": true})
	}
	if err != nil {
		return Quote{}, "", vaspd.FailedDependency(vaspd.CodeCounterpartyPubkeyFetch, "quote: cannot fetch the receiver's keys: %s", uma.AsError(err).Reason)
	}

	q := Quote{
		ID: id, LookupID: l.ID, UserID: in.UserID, Receiver: l.Receiver, Status: QuotePending,
		LockedSide: in.LockedSide, SendingCurrency: rate.Currency.Code, ReceivingCurrency: theirs.Code,
		Request: in, CreatedAt: createdAt, SendingCurrencyInfo: rate.Currency, OriginalQuoteID: in.OriginalQuoteID,
		ReceivingCurrencyInfo: rates.Currency{Code: theirs.Code, Name: theirs.Name, Symbol: theirs.Symbol, Decimals: theirs.Decimals},
	}
	pr := &uma.PayRequest{ReceivingCurrency: theirs.Code, Comment: comment, PayeeData: s.payeeData,
		InvoiceUUID: umaReq.InvoiceUUID}
	var sendConv rates.Conversion
	if in.LockedSide == LockedSending {
		if sendConv, err = sendForAmount(rate, in.Amount); err != nil {
			return Quote{}, "", err
		}
		pr.Amount = sendConv.Msats // sender-locked: msats, converted by the receiver
		if min, max := l.Response.MinSendable, l.Response.MaxSendable; pr.Amount < min || pr.Amount > max {
			return Quote{}, "", vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
				"%d %s is %d msats; the receiver accepts %d to %d msats", in.Amount, rate.Currency.Code, pr.Amount, min, max)
		}
		if err := creditsSomething(in, rate, theirs, pr.Amount); err != nil {
			return Quote{}, "", err
		}
		if err := buysAtMostMax(in, rate, theirs, pr.Amount); err != nil {
			return Quote{}, "", err
		}
	} else {
		pr.Amount, pr.SendingCurrency = in.Amount, theirs.Code
		if min, max := theirs.Convertible.Min, theirs.Convertible.Max; in.Amount < min || in.Amount > max {
			return Quote{}, "", vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
				"the receiver accepts %d to %d %s (smallest unit), not %d", min, max, theirs.Code, in.Amount)
		}
	}
	info, err := s.opt.Node.Info(ctx)
	if err != nil {
		return Quote{}, "", fmt.Errorf("node info: %w", err)
	}
	me := s.address(sender.Local)
	travel, format, err := s.opt.Compliance.TravelRuleInfo(ctx, sender, me, l.Receiver)
	if err != nil {
		return Quote{}, "", err
	}
	encrypted, err := uma.EncryptTravelRuleInfo(keys.Encryption, travel)
	if err != nil {
		return Quote{}, "", fmt.Errorf("encrypt travel-rule info: %w", err)
	}
	kyc := sender.kycStatus()
	payer.Identifier, payer.Compliance = me, &uma.CompliancePayerData{
		KycStatus: kyc, NodePubKey: info.PubKey, EncryptedTravelRuleInfo: encrypted, TravelRuleFormat: format,
		UtxoCallback: s.opt.BaseURL + "/api/uma/utxoCallback?txid=" + url.QueryEscape(q.ID),
	}
	pr.PayerData = payer
	if err := pr.Sign(s.opt.Keys.Signing, s.clock.Now()); err != nil {
		return Quote{}, "", err
	}
	body, err := json.Marshal(pr)
	if err != nil {
		return Quote{}, "", err
	}
	status, respBody, err := s.fetch(s.call(ctx, "payreq"), http.MethodPost, l.Response.Callback, body)
	if err != nil || status != http.StatusOK {
		return Quote{}, "", s.counterpartyError(quoteStep, status, respBody, err)
	}
	resp, err := uma.ParsePayReqResponse(respBody)
	if err != nil {
		return Quote{}, "", s.unreadable(quoteStep, status, respBody, err)
	}
	if _, err := s.verifier.VerifyPayReqResponse(ctx, resp, me, receiver); err != nil {
		return Quote{}, "", quoteStep.unverified(err, s.opt.CounterpartyTimeout)
	}
	if err := checkPayeeData(pr.PayeeData, resp); err != nil {
		return Quote{}, "", err
	}
	inv, err := bolt11.Decode(resp.PR, info.Network)
	if err != nil {
		return Quote{}, "", quoteStep.failed("the receiver's invoice is not payable by our node: %v", err)
	}
	if inv.Expired(s.clock.Now()) || inv.AmountMsat <= 0 {
		return Quote{}, "", quoteStep.failed("the receiver's invoice is expired or has no amount")
	}
	if err := s.notOwnInvoice(ctx, info, inv); err != nil {
		return Quote{}, "", err
	}
	// The node the receiver names (payeeData.compliance.nodePubKey) is
	// the node paid: an invoice to another node would pay someone the
	// receiver did not state.
	if c := resp.PayeeData.Compliance; c != nil && c.NodePubKey != "" && !strings.EqualFold(c.NodePubKey, inv.Destination) {
		return Quote{}, "", quoteStep.failed("the receiver's invoice pays node %s, not its node %s",
			inv.Destination, vaspd.Truncate(c.NodePubKey, 70))
	}
	// The node screened is the invoice's, as the invoice names it: the
	// receiver's nodePubKey is optional and its case free, and a receiver
	// leaving it out (or writing it in upper case) would otherwise have
	// the screening asked about no node (or about a spelling of its node
	// that a list does not hold).
	var utxos []string
	if c := resp.PayeeData.Compliance; c != nil {
		utxos = c.Utxos
	}
	if err := s.opt.Compliance.ScreenPayment(ctx, Outgoing, receiver.Domain, inv.Destination, utxos); err != nil {
		return Quote{}, "", vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
	}
	// One invoice is paid once: an invoice already quoted (for this or
	// another payreq) is the receiver's error, not a second payment.
	if reused, err := s.invoiceQuoted(ctx, inv.PaymentHash.String()); err != nil || reused {
		return Quote{}, "", cmp.Or(err, error(quoteStep.failed("the receiver's invoice was already given for another quote")))
	}
	conv := resp.Converted
	if q.SendingAmount, q.Fee, err = priceConversion(in, rate, sendConv, theirs, conv, inv.AmountMsat, l.Response); err != nil {
		return Quote{}, "", err
	}
	q.ReceivingAmount, q.ReceiverFeeMsats, q.Msats = conv.Amount, conv.Fee, inv.AmountMsat
	q.Invoice, q.PaymentHash, q.ExpiresAt = resp.PR, inv.PaymentHash.String(), s.quoteExpiry(s.clock.Now(), inv.ExpiresAt())
	if limit := termsAt.Add(maxQuoteLife); q.ExpiresAt.After(limit) {
		q.ExpiresAt = limit // the receiver chose the invoice's life, not our rate's
	}
	if umaReq.ID != "" && q.ExpiresAt.After(umaReq.ExpiresAt) {
		// The UMA request asks to be paid until then: its receiver's
		// invoice may outlive it, but an expired request is not paid.
		q.ExpiresAt = umaReq.ExpiresAt
	}
	q.payer = &payerTold{Local: sender.Local, KycStatus: kyc}
	d := quoteDetails{Receiver: l.Receiver, ReceiverFeeMsats: conv.Fee, Request: in, MsatsPerUnit: rate.SendMultiplier().FloatString(12),
		Sending: &q.SendingCurrencyInfo, Receiving: &q.ReceivingCurrencyInfo, Payer: q.payer}
	if resp.PayeeData != nil {
		if c := resp.PayeeData.Compliance; c != nil && c.UtxoCallback != "" {
			cb := c.UtxoCallback
			// Our post-transaction callback goes there: kept only when it is
			// a URL we may call (an incoming payer's is checked alike).
			if err := checkCounterpartyURL(cb); err != nil || len(cb) > maxCallbackURL {
				s.log.Warn("receiver's utxoCallback not kept", "quote", q.ID, "lookup", l.ID, "counterparty", logDomain(l.Receiver), "length", len(cb), "err", err)
			} else {
				d.UtxoCallback = cb
			}
		}
		// The identifier is the receiver's address (VerifyPayReqResponse),
		// which it stands for when absent; the name, optional display data,
		// is cut rather than refused.
		id := resp.PayeeData.Identifier
		if id == "" {
			id = l.Receiver
		}
		payee := map[string]any{"identifier": id, "name": vaspd.Truncate(resp.PayeeData.Name, maxPayeeName)}
		d.PayeeData, q.payeeData = payee, payee
	}
	raw, _ := json.Marshal(d)
	return q, string(raw), nil
}

// invoiceQuoted reports whether a quote holds the invoice of payment hash.
func (s *Service) invoiceQuoted(ctx context.Context, hash string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM uma_quotes WHERE payment_hash = $1`, hash).Scan(&n); err != nil {
		return false, fmt.Errorf("check invoice reuse: %w", err)
	}
	return n > 0, nil
}

const quoteColumns = `id, lookup_id, user_id, status, locked_side, sending_currency, sending_amount, fee,
	receiving_currency, receiving_amount, msats, invoice, payment_hash, details, COALESCE(transaction_id, ''), expires_at, created_at,
	COALESCE(original_quote_id, ''), auto_refresh, refresh_count, COALESCE(refreshed_at, 0),
	initial_sending_amount, initial_receiving_amount, auto_refresh_stopped`

func scanQuote(row interface{ Scan(...any) error }) (Quote, error) {
	var q Quote
	var raw string
	var exp, created, refreshed int64
	var initialDebit, initialCredit sql.NullInt64
	err := row.Scan(&q.ID, &q.LookupID, &q.UserID, &q.Status, &q.LockedSide, &q.SendingCurrency, &q.SendingAmount, &q.Fee,
		&q.ReceivingCurrency, &q.ReceivingAmount, &q.Msats, &q.Invoice, &q.PaymentHash, &raw, &q.TransactionID, &exp, &created,
		&q.OriginalQuoteID, &q.AutoRefresh, &q.RefreshCount, &refreshed, &initialDebit, &initialCredit, &q.AutoRefreshStopped)
	if err != nil {
		return q, err
	}
	if initialDebit.Valid && initialCredit.Valid {
		q.initial = &quoteAmounts{Debit: initialDebit.Int64, Credit: initialCredit.Int64}
	}
	var d quoteDetails
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return q, fmt.Errorf("quote %s: %w", q.ID, err)
	}
	q.Receiver, q.ReceiverFeeMsats, q.Request, q.utxoCallback = d.Receiver, d.ReceiverFeeMsats, d.Request, d.UtxoCallback
	q.payer, q.replacedBy = d.Payer, d.ReplacedBy
	if m, ok := d.PayeeData.(map[string]any); ok {
		q.payeeData = m
	}
	q.ExpiresAt, q.CreatedAt, q.RefreshedAt = store.Time(exp), store.Time(created), store.Time(refreshed)
	q.Request.OriginalQuoteID = q.OriginalQuoteID // a refresh of a retry stays one
	if d.Sending != nil {
		q.SendingCurrencyInfo = *d.Sending
	}
	if d.Receiving != nil {
		q.ReceivingCurrencyInfo = *d.Receiving
	}
	return q, nil
}

// fillCurrencies completes the currencies of a quote recorded without
// them: the sending one from our rates, the receiving one from the
// lookup's answer; a currency neither knows keeps only its code.
func (s *Service) fillCurrencies(ctx context.Context, q *Quote) {
	if q.SendingCurrencyInfo.Code == "" {
		q.SendingCurrencyInfo.Code = q.SendingCurrency
		if rate, err := s.opt.Rates.Rate(ctx, q.SendingCurrency); err == nil {
			q.SendingCurrencyInfo = rate.Currency
		}
	}
	if q.ReceivingCurrencyInfo.Code == "" {
		q.ReceivingCurrencyInfo.Code = q.ReceivingCurrency
		if l, err := s.getLookup(ctx, q.LookupID, ""); err == nil {
			if c, ok := uma.FindCurrency(l.Response.Currencies, q.ReceivingCurrency); ok {
				q.ReceivingCurrencyInfo = rates.Currency{Code: c.Code, Name: c.Name, Symbol: c.Symbol, Decimals: c.Decimals}
			}
		}
	}
}

// GetQuote returns a quote; its Status reads EXPIRED once the invoice
// expired unexecuted.
func (s *Service) GetQuote(ctx context.Context, id string) (Quote, error) {
	q, err := scanQuote(s.db.QueryRowContext(ctx, `SELECT `+quoteColumns+` FROM uma_quotes WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return q, vaspd.NotFound(vaspd.CodeQuoteNotFound, "quote %s not found", id)
	}
	if err == nil && q.Status == QuotePending && !s.clock.Now().Before(q.ExpiresAt) {
		q.Status = QuoteExpired
	}
	if err == nil {
		s.fillCurrencies(ctx, &q)
	}
	return q, err
}

// commentFor is the payreq comment that carries a quote's description to
// a receiver whose lookup advertised commentAllowed limit (LUD-12, in
// characters). A longer description is refused (400, naming the limit)
// before any payreq is sent, never cut: the receiver would refuse the
// payreq with an error of its own. A receiver that takes no comments (0 or
// absent) is sent none, as LUD-12 requires; the description stays our
// user's memo of the payment (the quote and outgoing transaction keep it).
func commentFor(description string, limit int) (string, error) {
	if description == "" || limit <= 0 {
		return "", nil
	}
	if n := utf8.RuneCountInString(description); n > limit {
		return "", &vaspd.Error{Status: http.StatusBadRequest, Code: vaspd.CodeInvalidInput,
			Message: fmt.Sprintf("description is %d characters; the receiver accepts comments of at most %d", n, limit),
			Details: map[string]any{"commentAllowed": limit}}
	}
	return description, nil
}

// staleRates is the answer to a quote (or a refresh) asked while the
// rates are older than rates-max-age: 503, as when the database is not
// ready — the service cannot price money now, and will once the rates are
// updated; nothing about the request is wrong. A quote already made keeps
// its locked rate and can still be executed.
func staleRates(err error) *vaspd.Error {
	return &vaspd.Error{Status: http.StatusServiceUnavailable, Code: vaspd.CodeUnavailable,
		Message: fmt.Sprintf("no new quote is priced now: %v; try again once the rates are updated", err), Err: err}
}

// quoteParties is what every quote of lookup l settles before it asks the
// receiver: our rate for the sending currency, the receiver's offer of the
// receiving currency, and the receiver's address (parsed by parse: an UMA
// address, or any for a plain Lightning Address), whose domain must still
// be one we pay, as must the host of its callback, where the payreq goes —
// asked again, not only at the lookup: the lookup may predate a change of
// the lists (or of a compliance hook's verdict), and a refresh of a held
// quote runs long after it.
func (s *Service) quoteParties(ctx context.Context, in QuoteRequest, l Lookup, parse func(string) (uma.Address, error)) (rates.Rate, uma.Currency, uma.Address, error) {
	rate, err := rates.FreshRate(ctx, s.opt.Rates, in.SendingCurrency)
	if errors.Is(err, rates.ErrStale) {
		return rates.Rate{}, uma.Currency{}, uma.Address{}, staleRates(err)
	}
	if err != nil {
		return rates.Rate{}, uma.Currency{}, uma.Address{}, quoteInput("sendingCurrencyCode %q is not supported", vaspd.Truncate(in.SendingCurrency, 16))
	}
	theirs, ok := uma.FindCurrency(l.Response.Currencies, in.ReceivingCurrency)
	if !ok {
		return rates.Rate{}, uma.Currency{}, uma.Address{}, quoteInput("the receiver does not accept %q", vaspd.Truncate(in.ReceivingCurrency, 16))
	}
	receiver, err := parse(l.Receiver)
	if err != nil {
		return rates.Rate{}, uma.Currency{}, uma.Address{}, err
	}
	if err := s.opt.Compliance.CounterpartyAllowed(ctx, receiver.Domain); err != nil {
		return rates.Rate{}, uma.Currency{}, uma.Address{}, vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
	}
	if err := s.callbackAllowed(ctx, l.Response.Callback); err != nil {
		return rates.Rate{}, uma.Currency{}, uma.Address{}, callbackNotAllowed(receiver, err)
	}
	return rate, theirs, receiver, nil
}
