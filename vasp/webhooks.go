package vasp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"slices"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/webhook"
)

// The platform learns about payments through the webhook engine; these
// build the UMAaaS payloads from our transactions.

func (s *Service) currencyOf(ctx context.Context, code string) webhook.Currency {
	c := webhook.Currency{Code: code}
	if rate, err := s.opt.Rates.Rate(ctx, code); err == nil {
		c.Name, c.Symbol, c.Decimals = rate.Currency.Name, rate.Currency.Symbol, rate.Currency.Decimals
	}
	return c
}

func baseTransaction(t Transaction) webhook.Transaction {
	wt := webhook.Transaction{
		ID: t.ID, Status: webhook.TransactionStatus(t.Status), Type: webhook.TransactionType(t.Direction),
		UserID: t.UserID, PlatformUserID: t.PlatformUserID, CreatedAt: t.CreatedAt, SettledAt: t.SettledAt,
		Description: t.Details.Comment,
	}
	if t.Direction == Incoming {
		wt.SenderUmaAddress, wt.ReceiverUmaAddress = t.Counterparty, t.OurAddress
	} else {
		wt.SenderUmaAddress, wt.ReceiverUmaAddress = t.OurAddress, t.Counterparty
	}
	if t.Direction == Incoming {
		wt.CounterpartyInformation = counterpartyInformation(t.Details.PayerData)
	} else {
		wt.CounterpartyInformation = counterpartyInformation(t.Details.PayeeData)
	}
	return wt
}

// counterpartyInformation is what the other VASP told us about its user
// — a sender's payer data, a receiver's payee data, by LUD-18/LUD-22 keys
// (name, email, identifier, …) — for the platform as UMAaaS's
// counterpartyInformation is keyed: by UserInfoFieldName (FULL_NAME,
// EMAIL, IDENTIFIER, …; PayerFieldNames), the names the platform uses
// everywhere else (senderUserInfo, requestedReceiverUserInfoFields, a
// 422's requiredFields). A key without such a name keeps its own; the
// compliance block (encrypted travel-rule data, node key, UTXOs: kept
// with the transaction, not the platform's to read here), null values
// (the Go SDK writes "email":null for none) and empty strings are left
// out. nil when nothing is left.
func counterpartyInformation(data json.RawMessage) map[string]any {
	var raw map[string]any
	if len(data) == 0 || json.Unmarshal(data, &raw) != nil {
		return nil
	}
	return counterpartyFields(raw)
}

func counterpartyFields(raw map[string]any) map[string]any {
	given := func(v any) bool { return v != nil && v != "" }
	info := make(map[string]any, len(raw))
	for k, v := range raw {
		if _, named := PayerFieldNames[k]; !named && k != uma.DataCompliance && given(v) {
			info[vaspd.Storable(k)] = storableJSON(v)
		}
	}
	// Named keys last: a counterparty's own "FULL_NAME" key does not
	// replace the name it gave as "name", whatever the map's order.
	for k, v := range raw {
		if name, named := PayerFieldNames[k]; named && given(v) {
			info[name] = storableJSON(v)
		}
	}
	if len(info) == 0 {
		return nil
	}
	return info
}

func (s *Service) incomingWebhook(ctx context.Context, t Transaction) *webhook.IncomingPaymentWebhook {
	w := &webhook.IncomingPaymentWebhook{
		Transaction: webhook.IncomingTransaction{
			Transaction:      baseTransaction(t),
			ReceivedAmount:   webhook.CurrencyAmount{Amount: t.Amount, Currency: s.currencyOf(ctx, t.Currency)},
			FailureReason:    incomingFailureReason(t.FailureReason),
			PaymentRequestID: t.PaymentRequestID,
		},
	}
	if t.Status != StatusCreated {
		w.Transaction.ReconciliationInstructions = &webhook.ReconciliationInstructions{Reference: t.ID}
	}
	return w
}

func (s *Service) outgoingWebhook(ctx context.Context, t Transaction) *webhook.OutgoingPaymentWebhook {
	fee := t.Fee
	ot := webhook.OutgoingTransaction{
		Transaction:           baseTransaction(t),
		SentAmount:            webhook.CurrencyAmount{Amount: t.Amount, Currency: s.currencyOf(ctx, t.Currency)},
		Fees:                  &fee,
		QuoteID:               t.QuoteID,
		OriginalTransactionID: t.Details.OriginalTransactionID,
		FailureReason:         outgoingFailureReason(t.FailureReason),
		PaymentInstructions:   s.paymentInstructions(t),
	}
	if t.CounterCurrency != "" {
		// The receiver's currency as it described it: our rates file may
		// not have it, and its decimals say what the amount is.
		c := s.currencyOf(ctx, t.CounterCurrency)
		if r := t.Details.ReceivingCurrency; r != nil && r.Code == t.CounterCurrency {
			c = webhook.Currency{Code: r.Code, Name: r.Name, Symbol: r.Symbol, Decimals: r.Decimals}
		}
		ot.ReceivedAmount = &webhook.CurrencyAmount{Amount: t.CounterAmount, Currency: c}
		// The rate its quote showed (exchangeRate), of the amounts
		// posted: sent, our fee excluded, per unit received.
		if r := ExchangeRate(t.Amount-t.Fee, t.CounterAmount); r > 0 {
			b, _ := json.Marshal(r) // finite: a ratio of two positive int64s
			ot.ExchangeRate = json.Number(b)
		}
	}
	return &webhook.OutgoingPaymentWebhook{Transaction: ot}
}

// ExchangeRate is a quote's and its OUTGOING transaction's exchangeRate:
// sent smallest units (our fee excluded) per received smallest unit, 0
// (left out) if either is not positive.
func ExchangeRate(sent, received int64) float64 {
	if sent <= 0 || received <= 0 {
		return 0
	}
	f, _ := new(big.Rat).SetFrac64(sent, received).Float64()
	return f
}

// incomingFailureReason is the stored reason of an incoming payment in the
// specification's words: platforms' generated clients refuse any value
// outside its enum. The stored reason stays as it was (the logs name it).
func incomingFailureReason(stored string) string {
	switch stored {
	case "INVOICE_EXPIRED":
		// Our invoice is the receiver's quote: it expired unpaid.
		return webhook.IncomingFailureQuoteExpired
	case "INVOICE_CREATION_FAILED":
		// Approved, but our node gave no invoice: the pay request
		// failed on our side. Left empty it would read as the
		// platform's own refusal (below).
		return webhook.IncomingFailurePayRequestFailed
	case reasonUserDeleted:
		// Paid, but its user was deleted meanwhile: nobody was
		// credited (the money waits in system:unmatched for a refund).
		return webhook.IncomingFailureQuoteExecutionFailed
	case reasonUnderpaid:
		// The invoice, the receiver's quote, was paid less than it
		// asked: the quote was not executed as quoted. (The
		// specification has no closer word.)
		return webhook.IncomingFailureQuoteExecutionFailed
	case "REJECTED_BY_PLATFORM", "ADDITIONAL_INFO_REQUIRED":
		// The platform refused it (403 or 422 to the approval webhook):
		// status REJECTED says so, and no enum value does.
		return ""
	}
	if slices.Contains(webhook.IncomingFailureReasons, stored) {
		return stored
	}
	return ""
}

// outgoingFailureReason is the stored reason of an outgoing payment (the
// node's, e.g. NO_ROUTE or INCORRECT_PAYMENT_DETAILS, or ours) in the
// specification's words.
func outgoingFailureReason(stored string) string {
	switch stored {
	case "":
		return ""
	case "INVOICE_EXPIRED":
		// The receiver's invoice is what our quote locked: it expired.
		return webhook.OutgoingFailureQuoteExpired
	case string(lightning.FailureTimeout):
		return webhook.OutgoingFailureTimeout
	}
	if slices.Contains(webhook.OutgoingFailureReasons, stored) {
		return stored
	}
	return webhook.OutgoingFailureLightningPaymentFailed
}

// paymentInstructions are an outgoing transaction's, which the schema
// requires. A vaspd payment is funded from the user's balance when the
// platform executes its quote, never by a bank transfer: the one account
// kind that says so is FBO, whose paymentUrl confirms the payment: UMAaaS's
// POST /fbo/confirm/{quoteId}, which vaspd serves as the quote's execute
// (already called by the time a transaction exists).
func (s *Service) paymentInstructions(t Transaction) webhook.PaymentInstructions {
	return webhook.PaymentInstructions{
		Reference:         t.QuoteID,
		InstructionsNotes: "Funded from the user's balance by executing the quote; there is nothing to transfer.",
		BankAccountInfo: webhook.PaymentAccountInfo{AccountType: "FBO", PaymentMethod: http.MethodPost,
			PaymentURL: s.opt.BaseURL + "/fbo/confirm/" + url.PathEscape(t.QuoteID)},
	}
}

// announce enqueues the webhook for t's current state inside tx, so the
// state change and its webhook commit together.
func (s *Service) announce(ctx context.Context, tx *store.Tx, t Transaction) error {
	ev := delivery.Event{Time: t.UpdatedAt}
	if t.Direction == Incoming {
		ev.Type, ev.Data = string(webhook.TypeIncomingPayment), s.incomingWebhook(ctx, t)
	} else {
		ev.Type, ev.Data = string(webhook.TypeOutgoingPayment), s.outgoingWebhook(ctx, t)
	}
	_, err := s.opt.Webhooks.Enqueue(ctx, tx, ev)
	return err
}

// endIncoming runs update, a conditional UPDATE (without its RETURNING)
// that moves one incoming payment to an end state, and, when tell, enqueues
// in the same transaction the INCOMING_PAYMENT webhook of the state it
// moved the payment to: the end and its webhook commit together. An update
// whose condition no longer holds (another process, or the platform's
// decision, moved the payment first) ends nothing and tells nothing: the
// webhook is the winner's. It reports whether the update ended the payment.
func (s *Service) endIncoming(ctx context.Context, tell bool, update string, args ...any) (bool, error) {
	ended := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		ended = false
		t, err := scanTransaction(tx.QueryRowContext(ctx, update+` RETURNING `+txColumns, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ended = true
		s.payments.endedIn(tx, t)
		if !tell {
			return nil
		}
		return s.announce(ctx, tx, t)
	})
	if err == nil && ended && tell {
		s.opt.Webhooks.Wake()
	}
	return ended, err
}

// Render is t in the UMAaaS API shape: an IncomingTransaction or an
// OutgoingTransaction.
func (s *Service) Render(ctx context.Context, t Transaction) any {
	if t.Direction == Incoming {
		return s.incomingWebhook(ctx, t).Transaction
	}
	return s.outgoingWebhook(ctx, t).Transaction
}

// storableJSON is v, decoded JSON, with every string in it (keys too, at
// any depth) made storable (vaspd.Storable): a counterparty's NUL, valid
// JSON as "\u0000", would make a platform that keeps webhooks or answers
// as PostgreSQL jsonb or text refuse the whole of them.
func storableJSON(v any) any {
	switch v := v.(type) {
	case string:
		return vaspd.Storable(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[vaspd.Storable(k)] = storableJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = storableJSON(e)
		}
		return out
	}
	return v
}
