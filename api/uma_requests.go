package api

import (
	"net/http"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// requestPay is our uma_request_endpoint (UMAD-11): a receiving VASP POSTs
// {"invoice": "uma1…"} addressed to one of our users. It is verified,
// kept, announced to the platform (UMA_REQUEST webhook) and answered 200;
// the platform decides whether its user pays.
func (h *umaHandlers) requestPay(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r, vasp.MaxUmaRequestBody, uma.CodeInvalidRequestFormat)
	if !ok {
		return
	}
	if _, err := h.v.ReceiveUmaRequest(r.Context(), body); err != nil {
		h.umaError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// listUmaRequests is GET /uma-requests?userId=…&status=…&sortOrder=…: UMA
// requests received for our users, newest first (sortOrder=asc: oldest
// first), cursor-paginated; status is one of
// the statuses an UMA request reads with (PENDING, PROCESSING, PAID,
// EXPIRED).
func (h *paymentHandlers) listUmaRequests(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDUmaRequest)
	if err != nil {
		return err
	}
	f := vasp.UmaRequestFilter{Status: r.URL.Query().Get("status")}
	if f.UserID, err = QueryID(r, "userId", vaspd.IDUser); err != nil {
		return err
	}
	if f.Status != "" && !vasp.ValidUmaRequestStatus(f.Status) {
		return vaspd.InvalidInput("status %q is not an UMA request status (PENDING, PROCESSING, PAID, EXPIRED)", vaspd.Truncate(f.Status, 32))
	}
	if f.Ascending, err = QuerySortOrder(r); err != nil {
		return err
	}
	rs, err := h.v.ListUmaRequests(r.Context(), f, p.After, p.Limit+1)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewPage(rs, p.Limit, func(x vasp.UmaRequest) string { return x.ID }))
	return nil
}

// getUmaRequest is GET /uma-requests/{umaRequestId}.
func (h *paymentHandlers) getUmaRequest(w http.ResponseWriter, r *http.Request) error {
	x, err := h.v.GetUmaRequest(r.Context(), r.PathValue("umaRequestId"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, x)
	return nil
}
