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
		log.Log(r.Context(), failureLevel(r, err), "request failed", "status", e.Status, "code", e.Code, "err", err,
			"request_id", RequestID(r.Context()))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="vaspd"`)
	}
	noteErrorCode(r.Context(), e.Code)
	WriteJSON(w, e.Status, errorBody{Status: e.Status, Code: e.Code, Message: e.Message, Details: e.Details})
}

// failureLevel is the level a failed request's cause is logged at: ERROR,
// unless the request failed because its client hung up (its context
// cancelled, the error context.Canceled). Then nothing inside failed —
// a counterparty or platform that gave up mid-request is theirs to see —
// and INFO keeps the record without an alarm.
func failureLevel(r *http.Request, err error) slog.Level {
	if errors.Is(err, context.Canceled) && errors.Is(r.Context().Err(), context.Canceled) {
		return slog.LevelInfo
	}
	return slog.LevelError
}
