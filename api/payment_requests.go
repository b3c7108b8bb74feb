package api

import (
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/vasp"
)

// Payment requests (vaspd's own; UMAaaS has none): a platform user asks to
// be paid with an UMA invoice vaspd issues and signs (UMAD-09), delivered
// to the payer's VASP when the request names the payer (UMAD-11):
//
//	POST /payment-requests                TRANSACT  {userId, amount, currency, expiresAt?, senderUmaAddress?,
//	                                                 commentCharsAllowed?, maxNumPayments?} → 201 PaymentRequest
//	                                                 (invoice, link, status, delivery); idempotent (Idempotency-Key):
//	                                                 a retry → 201, Idempotent-Replayed, not delivered again
//	GET  /payment-requests?userId=&status=&sortOrder= VIEW  newest first (sortOrder=asc: oldest), cursor-paginated
//	GET  /payment-requests/{id}           VIEW
//	POST /payment-requests/{id}/cancel    TRANSACT  → 200; payreqs naming it are refused from then on (409 while
//	                                                 a Lightning invoice of it is out)
//	POST /payment-requests/{id}/deliver   TRANSACT  → 200 with the new delivery outcome (a PENDING request
//	                                                 naming a sender)
func (s *Server) mountPaymentRequests(h *paymentHandlers) {
	s.Handle("POST /payment-requests", vaspd.PermTransact, h.createPaymentRequest, NotAudited(notAuditedRequest))
	s.Handle("GET /payment-requests", vaspd.PermView, h.listPaymentRequests)
	s.Handle("GET /payment-requests/{paymentRequestId}", vaspd.PermView, h.getPaymentRequest)
	s.Handle("POST /payment-requests/{paymentRequestId}/cancel", vaspd.PermTransact, h.cancelPaymentRequest, NotAudited(notAuditedRequest))
	s.Handle("POST /payment-requests/{paymentRequestId}/deliver", vaspd.PermTransact, h.deliverPaymentRequest, NotAudited(notAuditedRequest))
}

type createPaymentRequestBody struct {
	UserID              string     `json:"userId"`
	Amount              int64      `json:"amount"`
	Currency            string     `json:"currency"`
	ExpiresAt           *time.Time `json:"expiresAt"`
	SenderUmaAddress    string     `json:"senderUmaAddress"`
	CommentCharsAllowed int        `json:"commentCharsAllowed"`
	MaxNumPayments      int        `json:"maxNumPayments"`
}

func (h *paymentHandlers) createPaymentRequest(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	var req createPaymentRequestBody
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkAmount("amount", req.Amount); err != nil {
		return err
	}
	if req.Currency == "" {
		return vaspd.InvalidInput("currency is required")
	}
	in := vasp.PaymentRequestInput{UserID: req.UserID, Amount: req.Amount, Currency: req.Currency,
		SenderUMA: req.SenderUmaAddress, CommentCharsAllowed: req.CommentCharsAllowed, MaxNumPayments: req.MaxNumPayments,
		IdempotencyKey: key}
	if req.ExpiresAt != nil {
		// The zero time (0001-01-01T00:00:00Z) is what the service reads
		// as none given: given, it is long past, not a default 24 h.
		if req.ExpiresAt.IsZero() {
			return vaspd.InvalidInput("expiresAt must be between %s and %s from now", vasp.MinPaymentRequestLife, vasp.MaxPaymentRequestLife)
		}
		in.ExpiresAt = *req.ExpiresAt
	}
	answerWithin(w, 2*h.v.CounterpartyTimeout()) // delivery: the configuration, the request
	p, err := h.v.CreatePaymentRequest(r.Context(), in)
	if err != nil {
		return err
	}
	if p.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	WriteJSON(w, http.StatusCreated, p)
	return nil
}

// listPaymentRequests is GET /payment-requests?userId=…&status=….
func (h *paymentHandlers) listPaymentRequests(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDPaymentRequest)
	if err != nil {
		return err
	}
	f := vasp.PaymentRequestFilter{Status: r.URL.Query().Get("status")}
	if f.UserID, err = QueryID(r, "userId", vaspd.IDUser); err != nil {
		return err
	}
	if f.Status != "" && !vasp.ValidPaymentRequestStatus(f.Status) {
		return vaspd.InvalidInput("status %q is not a payment request status (PENDING, PROCESSING, PAID, EXPIRED, CANCELLED)", vaspd.Truncate(f.Status, 32))
	}
	if f.Ascending, err = QuerySortOrder(r); err != nil {
		return err
	}
	rs, err := h.v.ListPaymentRequests(r.Context(), f, p.After, p.Limit+1)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewPage(rs, p.Limit, func(x vasp.PaymentRequest) string { return x.ID }))
	return nil
}

func (h *paymentHandlers) getPaymentRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := h.v.GetPaymentRequest(r.Context(), r.PathValue("paymentRequestId"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}

func (h *paymentHandlers) cancelPaymentRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := h.v.CancelPaymentRequest(r.Context(), r.PathValue("paymentRequestId"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}

func (h *paymentHandlers) deliverPaymentRequest(w http.ResponseWriter, r *http.Request) error {
	answerWithin(w, 2*h.v.CounterpartyTimeout())
	p, err := h.v.RedeliverPaymentRequest(r.Context(), r.PathValue("paymentRequestId"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}
