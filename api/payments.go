package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/webhook"
)

// The platform's payment endpoints (UMAaaS §3–4): look up a receiver,
// quote, execute, follow transactions, and decide deferred approvals.

// MountPayments adds the payment endpoints served by v.
func (s *Server) MountPayments(v *vasp.Service) {
	h := &paymentHandlers{v: v}
	s.payments = v // GET /config tells what it offers
	s.Handle("GET /receiver/{receiver}", vaspd.PermTransact, h.lookup)
	s.Handle("POST /quotes", vaspd.PermTransact, h.createQuote, NotAudited(notAuditedPayment))
	s.Handle("GET /quotes/{quoteId}", vaspd.PermView, h.getQuote)
	s.Handle("POST /quotes/{quoteId}/execute", vaspd.PermTransact, h.executeQuote, NotAudited(notAuditedPayment))
	// UMAaaS funds a quote by a bank transfer, or from the platform's FBO
	// account with fboConfirm; vaspd's quotes are funded from the user's
	// balance, which is what execute does. A client written against
	// UMAaaS that confirms gets execute itself: the same handler, so the
	// two cannot drift, and one claim on the quote, so they never pay twice.
	s.Handle("POST /fbo/confirm/{quoteId}", vaspd.PermTransact, h.executeQuote, NotAudited(notAuditedPayment))
	s.Handle("POST /quotes/{quoteId}/refresh", vaspd.PermTransact, h.refreshQuote, NotAudited(notAuditedPayment))
	s.Handle("POST /quotes/{quoteId}/retry", vaspd.PermTransact, h.retryQuote, NotAudited(notAuditedPayment))
	s.Handle("GET /transactions", vaspd.PermView, h.listTransactions)
	s.Handle("GET /transactions/{transactionId}", vaspd.PermView, h.getTransaction)
	s.Handle("POST /transactions/{transactionId}/approve", vaspd.PermTransact, h.approve, Audited)
	s.Handle("POST /transactions/{transactionId}/reject", vaspd.PermTransact, h.reject, Audited)
	s.Handle("GET /uma-requests", vaspd.PermView, h.listUmaRequests)
	s.Handle("GET /uma-requests/{umaRequestId}", vaspd.PermView, h.getUmaRequest)
	s.mountPaymentRequests(h)
	s.mountSandbox(h)
}

type paymentHandlers struct{ v *vasp.Service }

type paymentCurrency struct {
	Code     string `json:"code"`
	Name     string `json:"name,omitempty"`
	Symbol   string `json:"symbol,omitempty"`
	Decimals int    `json:"decimals"`
}

type currencyPreference struct {
	Currency paymentCurrency `json:"currency"`
	// EstimatedExchangeRate is sending-currency per receiving-currency
	// smallest unit, as a quote's exchangeRate, from the receiver's
	// advertised multiplier (not locked): vasp.EstimatedExchangeRates.
	// UMAaaS has it > 0: when none can be told (0) it is left out, not
	// given as a rate of 0 a platform would divide by or show as free.
	EstimatedExchangeRate float64 `json:"estimatedExchangeRate,omitempty"`
	Min                   int64   `json:"min"`
	Max                   int64   `json:"max"`
}

type fieldDefinition struct {
	Name      string `json:"name"`
	Mandatory bool   `json:"mandatory"`
}

type lookupResponse struct {
	ReceiverUmaAddress      string               `json:"receiverUmaAddress"`
	SupportedCurrencies     []currencyPreference `json:"supportedCurrencies"`
	MinSendableMsats        int64                `json:"minSendableMsats"`
	MaxSendableMsats        int64                `json:"maxSendableMsats"`
	RequiredPayerDataFields []fieldDefinition    `json:"requiredPayerDataFields"`
	LookupID                string               `json:"lookupId"`
	KycStatus               string               `json:"kycStatus"`
}

func (h *paymentHandlers) lookup(w http.ResponseWriter, r *http.Request) error {
	userID, sender := r.URL.Query().Get("userId"), r.URL.Query().Get("senderUmaAddress")
	switch {
	case userID == "" && sender == "":
		return vaspd.InvalidInput("query parameter userId or senderUmaAddress (the sending user) is required")
	case userID == "":
		id, err := h.v.UserIDByAddress(r.Context(), sender)
		if err != nil {
			return err
		}
		userID = id
	default:
		canon, err := vaspd.CanonicalID(vaspd.IDUser, userID)
		if err != nil {
			return vaspd.InvalidInput("userId: %v", err)
		}
		userID = canon
		if sender == "" {
			break
		}
		// Both name the sender: they must name the same user.
		id, err := h.v.UserIDByAddress(r.Context(), sender)
		if e := vaspd.AsError(err); err != nil && e.Status != http.StatusNotFound {
			return err
		}
		if id != userID {
			return vaspd.InvalidInput("userId and senderUmaAddress name different users; give one, or both for the same user")
		}
	}
	// Up to three calls to the receiver's VASP: lnurlp, again at the UMA
	// version it asks for, and its keys.
	answerWithin(w, 3*h.v.CounterpartyTimeout())
	l, err := h.v.LookupReceiver(r.Context(), userID, r.PathValue("receiver"))
	if err != nil {
		return err
	}
	out := lookupResponse{ReceiverUmaAddress: l.Receiver, LookupID: l.ID, KycStatus: "UNKNOWN",
		MinSendableMsats: l.Response.MinSendable, MaxSendableMsats: l.Response.MaxSendable,
		SupportedCurrencies: []currencyPreference{}, RequiredPayerDataFields: []fieldDefinition{}}
	if c := l.Response.Compliance; c != nil {
		switch c.KycStatus {
		case uma.KycVerified:
			out.KycStatus = "VERIFIED"
		case uma.KycNotVerified:
			out.KycStatus = "NOT_VERIFIED"
		case uma.KycPending:
			out.KycStatus = "PENDING"
		}
	}
	estimates, err := h.v.EstimatedExchangeRates(r.Context(), l)
	if err != nil {
		return err
	}
	for i, c := range l.Response.Currencies {
		// A max below 1 (UMA: 0 <= min <= max, a bound, 0 one too) takes
		// no amount a quote can be made for, and UMAaaS's max is > 0:
		// the currency is not offered.
		if c.Convertible.Max < 1 {
			continue
		}
		// UMAaaS's min is > 0, a receiver's may be 0 (UMA: 0 <= min):
		// one smallest unit is then the least a quote can be made for
		// (lockedCurrencyAmount is positive), so that is the answer.
		out.SupportedCurrencies = append(out.SupportedCurrencies, currencyPreference{
			Currency:              paymentCurrency{Code: c.Code, Name: c.Name, Symbol: c.Symbol, Decimals: c.Decimals},
			EstimatedExchangeRate: estimates[i], Min: max(c.Convertible.Min, 1), Max: c.Convertible.Max,
		})
	}
	for key, opt := range l.Response.PayerData {
		if name, ok := vasp.PayerFieldNames[key]; ok {
			out.RequiredPayerDataFields = append(out.RequiredPayerDataFields, fieldDefinition{Name: name, Mandatory: opt.Mandatory})
		}
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

type createQuoteRequest struct {
	LookupID              string         `json:"lookupId"`
	SendingCurrencyCode   string         `json:"sendingCurrencyCode"`
	ReceivingCurrencyCode string         `json:"receivingCurrencyCode"`
	LockedCurrencySide    string         `json:"lockedCurrencySide"`
	LockedCurrencyAmount  int64          `json:"lockedCurrencyAmount"`
	Description           string         `json:"description"`
	SenderUserInfo        map[string]any `json:"senderUserInfo"`
	// UmaRequestID (vaspd's own) pays an UMA request the user received.
	UmaRequestID string `json:"umaRequestId"`
	// AutoRefresh (vaspd's own) has the quote's terms renewed in place
	// shortly before its invoice expires, while the platform holds it.
	AutoRefresh bool `json:"autoRefresh"`
}

type quoteResponse struct {
	QuoteID              string          `json:"quoteId"`
	Status               string          `json:"status"`
	LookupID             string          `json:"lookupId"`
	ReceiverUmaAddress   string          `json:"receiverUmaAddress"`
	SendingCurrency      paymentCurrency `json:"sendingCurrency"`
	ReceivingCurrency    paymentCurrency `json:"receivingCurrency"`
	LockedCurrencySide   string          `json:"lockedCurrencySide"`
	TotalSendingAmount   int64           `json:"totalSendingAmount"`
	TotalReceivingAmount int64           `json:"totalReceivingAmount"`
	// ExchangeRate is what the quote locked: sending-currency per
	// receiving-currency smallest unit, FeesIncluded (our fee) excluded:
	// (TotalSendingAmount - FeesIncluded) / TotalReceivingAmount. Left out
	// only when there is no positive rate (nothing received).
	ExchangeRate       float64   `json:"exchangeRate,omitempty"`
	FeesIncluded       int64     `json:"feesIncluded"`
	InvoiceAmountMsats int64     `json:"invoiceAmountMsats"`
	ReceiverFeeMsats   int64     `json:"receiverFeeMsats"`
	ExpiresAt          time.Time `json:"expiresAt"`
	CreatedAt          time.Time `json:"createdAt"`
	// TransactionID is required by the schema: "" until executed.
	TransactionID string `json:"transactionId"`
	// OriginalQuoteID is, for a quote made by POST /quotes/{id}/retry (or
	// a refresh of one), the first quote of the payment it retries; left
	// out otherwise (the schema's is a string, not nullable).
	OriginalQuoteID string `json:"originalQuoteId,omitempty"`
	// AutoRefresh, RefreshCount and LastRefreshedAt are vaspd's own:
	// whether the quote was made with autoRefresh, how many times its
	// terms were renewed in place, and when last (left out: never).
	AutoRefresh     bool       `json:"autoRefresh"`
	RefreshCount    int        `json:"refreshCount"`
	LastRefreshedAt *time.Time `json:"lastRefreshedAt,omitempty"`
	// AutoRefreshStopped (vaspd's own) says why a quote made with
	// autoRefresh no longer auto-refreshes: PRICE_CHANGED, USER_DELETED or
	// REPLACED; left out otherwise.
	AutoRefreshStopped string `json:"autoRefreshStopped,omitempty"`
	// CounterpartyInformation is what the receiver told us about its
	// user, by UMAaaS field name (IDENTIFIER, FULL_NAME); left out when
	// nothing (a plain Lightning Address).
	CounterpartyInformation map[string]any `json:"counterpartyInformation,omitempty"`
	// The schema's required paymentInstructions is left out: it tells the
	// platform where to send fiat (a bank account of one of six kinds),
	// and a vaspd quote is paid from the user's balance by execute; the
	// schema has no shape saying "none".
}

func renderQuote(q vasp.Quote) quoteResponse {
	return quoteResponse{
		QuoteID: q.ID, Status: q.Status, LookupID: q.LookupID, ReceiverUmaAddress: q.Receiver,
		SendingCurrency: quoteCurrency(q.SendingCurrency, q.SendingCurrencyInfo), ReceivingCurrency: quoteCurrency(q.ReceivingCurrency, q.ReceivingCurrencyInfo),
		LockedCurrencySide: q.LockedSide, TotalSendingAmount: q.SendingAmount, TotalReceivingAmount: q.ReceivingAmount,
		FeesIncluded: q.Fee, InvoiceAmountMsats: q.Msats, ReceiverFeeMsats: q.ReceiverFeeMsats,
		ExpiresAt: q.ExpiresAt.UTC(), CreatedAt: q.CreatedAt.UTC(), TransactionID: q.TransactionID, OriginalQuoteID: q.OriginalQuoteID,
		ExchangeRate: vasp.ExchangeRate(q.SendingAmount-q.Fee, q.ReceivingAmount), // its OUTGOING transaction's too
		AutoRefresh:  q.AutoRefresh, RefreshCount: q.RefreshCount, LastRefreshedAt: refreshedAt(q.RefreshedAt),
		CounterpartyInformation: q.CounterpartyInformation(), AutoRefreshStopped: q.AutoRefreshStopped,
	}
}

// refreshedAt is a quote's last refresh for its answer: nil when never.
func refreshedAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// quoteCurrency is a quote's currency in full, or only its code when the
// quote does not know it.
func quoteCurrency(code string, c rates.Currency) paymentCurrency {
	if c.Code == "" {
		return paymentCurrency{Code: code}
	}
	return paymentCurrency{Code: c.Code, Name: c.Name, Symbol: c.Symbol, Decimals: c.Decimals}
}

func (h *paymentHandlers) createQuote(w http.ResponseWriter, r *http.Request) error {
	var req createQuoteRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var err error
	if req.LookupID, err = vaspd.CanonicalID(vaspd.IDLookup, req.LookupID); err != nil {
		return vaspd.InvalidInput("lookupId: %v", err)
	}
	if req.UmaRequestID != "" {
		// Stored with the quote and keyed on when paid: as issued.
		id, err := vaspd.CanonicalID(vaspd.IDUmaRequest, req.UmaRequestID)
		if err != nil {
			return vaspd.NotFound(vaspd.CodeUmaRequestNotFound, "UMA request %s not found", vaspd.Truncate(req.UmaRequestID, 80))
		}
		req.UmaRequestID = id
	}
	if err := checkAmount("lockedCurrencyAmount", req.LockedCurrencyAmount); err != nil {
		return err
	}
	answerWithin(w, 2*h.v.CounterpartyTimeout()) // the receiver's keys, its payreq
	q, err := h.v.CreateQuote(r.Context(), vasp.QuoteRequest{
		LookupID: req.LookupID, SendingCurrency: strings.ToUpper(req.SendingCurrencyCode),
		ReceivingCurrency: strings.ToUpper(req.ReceivingCurrencyCode), LockedSide: req.LockedCurrencySide,
		Amount: req.LockedCurrencyAmount, Description: req.Description, UmaRequestID: req.UmaRequestID,
		SenderUserInfo: req.SenderUserInfo, AutoRefresh: req.AutoRefresh,
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, renderQuote(q))
	return nil
}

func (h *paymentHandlers) getQuote(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "quoteId", vaspd.IDQuote, vaspd.CodeQuoteNotFound)
	if err != nil {
		return err
	}
	q, err := h.v.GetQuote(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, renderQuote(q))
	return nil
}

func (h *paymentHandlers) refreshQuote(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "quoteId", vaspd.IDQuote, vaspd.CodeQuoteNotFound)
	if err != nil {
		return err
	}
	answerWithin(w, 2*h.v.CounterpartyTimeout()) // a new quote: keys, payreq
	q, err := h.v.RefreshQuote(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, renderQuote(q))
	return nil
}

type retryQuoteRequest struct {
	LookupID       string         `json:"lookupId"`
	SenderUserInfo map[string]any `json:"senderUserInfo"`
}

// retryQuote retries a FAILED payment with a new quote for the same
// request through a new lookup of the same receiver (vasp.RetryQuote).
func (h *paymentHandlers) retryQuote(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "quoteId", vaspd.IDQuote, vaspd.CodeQuoteNotFound)
	if err != nil {
		return err
	}
	var req retryQuoteRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.LookupID == "" {
		return vaspd.InvalidInput("lookupId is required: a new lookup of the quote's receiver")
	}
	if req.LookupID, err = vaspd.CanonicalID(vaspd.IDLookup, req.LookupID); err != nil {
		return vaspd.InvalidInput("lookupId: %v", err)
	}
	answerWithin(w, 2*h.v.CounterpartyTimeout()) // a new quote: keys, payreq
	q, err := h.v.RetryQuote(r.Context(), id, req.LookupID, req.SenderUserInfo)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, renderQuote(q))
	return nil
}

func (h *paymentHandlers) executeQuote(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "quoteId", vaspd.IDQuote, vaspd.CodeQuoteNotFound)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	answerWithin(w, h.v.PayTimeout()) // the payment is awaited
	t, err := h.v.ExecuteQuote(r.Context(), id, key)
	if err != nil {
		return err
	}
	writeTransaction(w, r, h.v, t)
	return nil
}

// writeTransaction answers t, the transaction an execute or a sandbox
// transfer or payment made, with 200; marked Idempotent-Replayed when the
// request made nothing but answered what an earlier one did (its audit
// event, on an audited route, says so: auditing).
func writeTransaction(w http.ResponseWriter, r *http.Request, v *vasp.Service, t vasp.Transaction) {
	if t.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	WriteJSON(w, http.StatusOK, v.Render(r.Context(), t))
}

func (h *paymentHandlers) getTransaction(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "transactionId", vaspd.IDTransaction, "TRANSACTION_NOT_FOUND")
	if err != nil {
		return err
	}
	t, err := h.v.GetTransaction(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.v.Render(r.Context(), t))
	return nil
}

func (h *paymentHandlers) listTransactions(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDTransaction)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := vasp.TransactionFilter{Status: q.Get("status"), Direction: q.Get("type")}
	if f.UserID, err = QueryID(r, "userId", vaspd.IDUser); err != nil {
		return err
	}
	if f.Direction != "" && f.Direction != vasp.Incoming && f.Direction != vasp.Outgoing {
		return vaspd.InvalidInput("type must be INCOMING or OUTGOING")
	}
	// REFUNDED is the specification's, a status no vaspd payment reaches
	// (a failed one is refunded in place and stays FAILED): applied, it
	// lists nothing.
	if f.Status != "" && !vasp.ValidStatus(f.Status) && f.Status != string(webhook.StatusRefunded) {
		return vaspd.InvalidInput("status %q is not a transaction status", vaspd.Truncate(f.Status, 32))
	}
	if f.From, f.To, err = QueryTimeRange(r, "startDate", "endDate"); err != nil {
		return err
	}
	// Every filter of UMAaaS's listTransactions is applied: one ignored
	// would list every user's payments to a client that asked for one's.
	if f.PlatformUserID, err = QueryStoredText(r, "platformUserId", 256); err != nil {
		return err
	}
	if f.Reference, err = QueryText(r, "reference", 256); err != nil {
		return err
	}
	if f.PaymentRequestID, err = QueryID(r, "paymentRequestId", vaspd.IDPaymentRequest); err != nil {
		return err
	}
	for name, dst := range map[string]*string{"umaAddress": &f.Address, "senderUmaAddress": &f.Sender, "receiverUmaAddress": &f.Receiver} {
		if *dst, err = queryAddress(r, name); err != nil {
			return err
		}
	}
	if f.Ascending, err = QuerySortOrder(r); err != nil {
		return err
	}
	ts, err := h.v.ListTransactions(r.Context(), f, p.After, p.Limit+1)
	if err != nil {
		return err
	}
	page := NewPage(ts, p.Limit, func(t vasp.Transaction) string { return t.ID })
	out := Page[any]{Data: make([]any, 0, len(page.Data)), HasMore: page.HasMore, NextCursor: page.NextCursor}
	for _, t := range page.Data {
		out.Data = append(out.Data, h.v.Render(r.Context(), t))
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

type decisionRequest struct {
	ReceiverUserInfo map[string]any `json:"receiverUserInfo"`
	Reason           string         `json:"reason"`
}

func (h *paymentHandlers) decide(w http.ResponseWriter, r *http.Request, approve bool) error {
	id, err := PathID(r, "transactionId", vaspd.IDTransaction, "TRANSACTION_NOT_FOUND")
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	// reason is optional free text for debugging or the platform's own
	// use, with no limit in the OpenAPI: a long one is accepted and kept
	// to its first 200 bytes, cut between characters.
	t, err := h.v.Decide(r.Context(), id, approve, req.ReceiverUserInfo, vaspd.Truncate(req.Reason, 200))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.v.Render(r.Context(), t))
	return nil
}

func (h *paymentHandlers) approve(w http.ResponseWriter, r *http.Request) error {
	return h.decide(w, r, true)
}
func (h *paymentHandlers) reject(w http.ResponseWriter, r *http.Request) error {
	return h.decide(w, r, false)
}

// queryAddress reads an optional UMA address (or Lightning Address) query
// parameter, normalized as vasp.NormalizeAddress does ("" if absent);
// anything else is a 400.
func queryAddress(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	a, err := uma.ParseAddress(v)
	if err != nil {
		return "", vaspd.InvalidInput("%s: %s", name, uma.AsError(err).Reason)
	}
	return vasp.NormalizeAddress(a.User + "@" + a.Domain), nil
}
