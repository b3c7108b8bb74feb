package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/vaspd/vaspd"
)

// errorBody is the UMAaaS error JSON.
type errorBody struct {
	Status  int            `json:"status"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// WriteError renders err as the UMAaaS error JSON. Causes of 5xx errors are
// logged, never sent; a 501 NOT_IMPLEMENTED is not logged apart: it says
// what vaspd does not offer, nothing failed, and the request's own log
// line records it (an ERROR a client can cause at will would be noise).
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := vaspd.AsError(err)
	if errors.Is(err, context.DeadlineExceeded) && e.Code == vaspd.CodeInternal {
		e = &vaspd.Error{Status: http.StatusServiceUnavailable, Code: vaspd.CodeUnavailable, Message: "the request timed out; try again", Err: err}
	}
	if e.Status >= 500 && e.Code != vaspd.CodeNotImplemented && log != nil {
		log.ErrorContext(r.Context(), "request failed", "status", e.Status, "code", e.Code, "err", err,
			"request_id", RequestID(r.Context()))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="vaspd"`)
	}
	noteErrorCode(r.Context(), e.Code)
	WriteJSON(w, e.Status, errorBody{Status: e.Status, Code: e.Code, Message: e.Message, Details: e.Details})
}
