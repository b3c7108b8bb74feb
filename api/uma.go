package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// The UMA endpoints other VASPs call. They are public (signed messages, not
// API tokens, authenticate them) and answer errors as UMA's error JSON
// {"status":"ERROR","reason","code"} with the code's HTTP status, never
// the platform API's error shape.

// MountUMA adds the UMA protocol endpoints served by v.
func (s *Server) MountUMA(v *vasp.Service) {
	h := &umaHandlers{v: v, log: s.log, allowed: s.allowedMethods}
	// LNURL (LUD-01) and UMA's configuration document are read by
	// browser wallets too: every answer allows any origin. Every answer is
	// JSON, errors quoting what the caller sent: nosniff.
	public := func(pattern string, f http.HandlerFunc) {
		s.HandlePublic(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			onPanic(w, h.panicked)
			f(w, r)
		}))
	}
	// Each client's requests are limited (umalimit.go), but for the
	// static documents: cheap, cacheable, and fetched by counterparties to
	// verify every message we sign.
	limited := func(pattern string, f http.HandlerFunc) { public(pattern, s.limitUMA(f)) }
	public("GET /.well-known/lnurlpubkey", h.pubkey)
	public("GET /.well-known/uma-configuration", h.configuration)
	limited("GET /.well-known/lnurlp/{user}", h.lnurlp)
	limited("POST /api/uma/payreq/{user}", h.payreq)
	limited("GET /api/uma/payreq/{user}", h.payreq)
	limited("POST /api/uma/utxoCallback", h.utxoCallback)
	limited("POST /api/uma/request_pay", h.requestPay)
	// Anything else under the UMA paths (wrong method, extra path
	// segments) still answers in UMA's words, not the platform API's.
	limited("/api/uma/", h.notFound)
	limited("/.well-known/lnurlp/", h.notFound)
	public("/.well-known/lnurlpubkey", h.notFound)
	public("/.well-known/uma-configuration", h.notFound)
}

// notFound answers what no UMA route serves: 405 with Allow when the path
// has routes for other methods (UMA has no code for it: REQUEST_NOT_FOUND,
// with the status saying which it is), a CORS preflight (OPTIONS) for them
// with 204, 404 otherwise.
func (h *umaHandlers) notFound(w http.ResponseWriter, r *http.Request) {
	if allow := h.allowed(r); len(allow) > 0 {
		methods := strings.Join(allow, ", ")
		w.Header().Set("Allow", methods)
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", methods)
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.umaErrorStatus(w, r, http.StatusMethodNotAllowed, uma.Errorf(uma.CodeRequestNotFound,
			"%s %s is not allowed; use %s", vaspd.Truncate(r.Method, 20), vaspd.Truncate(r.URL.Path, 200), methods))
		return
	}
	h.umaError(w, r, uma.Errorf(uma.CodeRequestNotFound, "no UMA endpoint %s %s", vaspd.Truncate(r.Method, 20), vaspd.Truncate(r.URL.Path, 200)))
}

type umaHandlers struct {
	v       *vasp.Service
	log     *slog.Logger
	allowed func(*http.Request) []string // the methods r's path has routes for (Server.allowedMethods)
}

// umaError writes err as UMA's error JSON; unexpected errors are logged
// with the request id and answered INTERNAL_ERROR without their cause.
func (h *umaHandlers) umaError(w http.ResponseWriter, r *http.Request, err error) {
	h.umaErrorStatus(w, r, 0, err)
}

// umaErrorStatus is umaError with an HTTP status other than the code's
// (0: the code's), for what UMA's table has no code of its own for.
func (h *umaHandlers) umaErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	e := uma.AsError(err)
	if e.Code == uma.CodeInternalError {
		h.log.Log(r.Context(), failureLevel(r, err), "UMA request failed", "request_id", RequestID(r.Context()),
			"route", r.Pattern, "path", logPath(r.URL.Path), "err", err)
		e = uma.Errorf(uma.CodeInternalError, "internal error (request %s)", RequestID(r.Context()))
	}
	if status == 0 {
		status = e.HTTPStatus()
	}
	noteErrorCode(r.Context(), string(e.Code))
	writeUMAError(w, status, e)
}

func writeUMAError(w http.ResponseWriter, status int, e *uma.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(e.Body())
}

// panicked answers a request whose handler panicked (the middleware has
// logged it) as every UMA error is answered.
func (h *umaHandlers) panicked(w http.ResponseWriter, r *http.Request) {
	writeUMAError(w, http.StatusInternalServerError,
		uma.Errorf(uma.CodeInternalError, "internal error (request %s)", RequestID(r.Context())))
}

// readBody reads r's body, at most limit bytes. A body it cannot read is
// answered with code, and one over the limit with 413 (UMA has no code for
// it), without reading the rest; ok is false then.
func (h *umaHandlers) readBody(w http.ResponseWriter, r *http.Request, limit int64, code uma.ErrorCode) (body []byte, ok bool) {
	if err := uncompressed(r); err != nil {
		h.umaErrorStatus(w, r, http.StatusUnsupportedMediaType, uma.Errorf(code, "%s", vaspd.AsError(err).Message))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.umaErrorStatus(w, r, http.StatusRequestEntityTooLarge, uma.Errorf(code, "request body is larger than %d bytes", limit))
		return nil, false
	case err != nil:
		h.umaError(w, r, uma.Errorf(code, "request body unreadable"))
		return nil, false
	}
	return body, true
}

func (h *umaHandlers) pubkey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	WriteJSON(w, http.StatusOK, h.v.PubKeyResponse())
}

func (h *umaHandlers) configuration(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, h.v.Configuration())
}

// localPart accepts "$bob" (UMA) and "bob" (Lightning Address).
func localPart(r *http.Request) string {
	return strings.TrimPrefix(r.PathValue("user"), "$")
}

func (h *umaHandlers) lnurlp(w http.ResponseWriter, r *http.Request) {
	resp, err := h.v.Lnurlp(r.Context(), r.URL, localPart(r))
	if err != nil {
		h.umaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *umaHandlers) payreq(w http.ResponseWriter, r *http.Request) {
	var (
		req *uma.PayRequest
		err error
	)
	if r.Method == http.MethodGet {
		req, err = uma.ParsePayRequestQuery(r.URL.Query())
	} else {
		body, ok := h.readBody(w, r, 256<<10, uma.CodeParsePayreqRequestError)
		if !ok {
			return
		}
		req, err = uma.ParsePayRequest(body)
	}
	if err != nil {
		h.umaError(w, r, err)
		return
	}
	answerWithin(w, h.v.ApprovalTimeout()) // the platform's approval is awaited
	resp, err := h.v.PayRequest(r.Context(), localPart(r), req)
	if err != nil {
		h.umaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *umaHandlers) utxoCallback(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r, 256<<10, uma.CodeParseUTXOCallbackError)
	if !ok {
		return
	}
	txid := r.URL.Query().Get("txid")
	if err := h.v.ReceiveUtxoCallback(r.Context(), txid, body); err != nil {
		h.umaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "OK"})
}
