package api

import (
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
	h := &umaHandlers{v: v, log: s.log}
	// LNURL (LUD-01) and UMA's configuration document are read by
	// browser wallets too: every answer allows any origin. Every answer is
	// JSON, errors quoting what the caller sent: nosniff.
	public := func(pattern string, f http.HandlerFunc) {
		s.HandlePublic(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			f(w, r)
		}))
	}
	public("GET /.well-known/lnurlpubkey", h.pubkey)
	public("GET /.well-known/uma-configuration", h.configuration)
	public("GET /.well-known/lnurlp/{user}", h.lnurlp)
	public("POST /api/uma/payreq/{user}", h.payreq)
	public("GET /api/uma/payreq/{user}", h.payreq)
	public("POST /api/uma/utxoCallback", h.utxoCallback)
	public("POST /api/uma/request_pay", h.requestPay)
	// Anything else under the UMA prefixes (wrong method, extra path
	// segments) still answers in UMA's words, not the platform API's.
	public("/api/uma/", h.notFound)
	public("/.well-known/lnurlp/", h.notFound)
}

func (h *umaHandlers) notFound(w http.ResponseWriter, r *http.Request) {
	h.umaError(w, r, uma.Errorf(uma.CodeRequestNotFound, "no UMA endpoint %s %s", r.Method, vaspd.Truncate(r.URL.Path, 200)))
}

type umaHandlers struct {
	v   *vasp.Service
	log *slog.Logger
}

// umaError writes err as UMA's error JSON; unexpected errors are logged
// with the request id and answered INTERNAL_ERROR without their cause.
func (h *umaHandlers) umaError(w http.ResponseWriter, r *http.Request, err error) {
	e := uma.AsError(err)
	if e.Code == uma.CodeInternalError {
		h.log.Error("UMA request failed", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
		e = uma.Errorf(uma.CodeInternalError, "internal error (request %s)", RequestID(r.Context()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(e.Body())
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
	u := *r.URL
	u.Host = r.Host // the sender signed the address with the host it called
	resp, err := h.v.Lnurlp(r.Context(), &u, localPart(r))
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
		var body []byte
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
		if err == nil {
			req, err = uma.ParsePayRequest(body)
		} else {
			err = uma.Errorf(uma.CodeParsePayreqRequestError, "request body unreadable or over 256 KiB")
		}
	}
	if err != nil {
		h.umaError(w, r, err)
		return
	}
	resp, err := h.v.PayRequest(r.Context(), localPart(r), req)
	if err != nil {
		h.umaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *umaHandlers) utxoCallback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		h.umaError(w, r, uma.Errorf(uma.CodeParseUTXOCallbackError, "request body unreadable or over 256 KiB"))
		return
	}
	txid := r.URL.Query().Get("txid")
	if err := h.v.ReceiveUtxoCallback(r.Context(), txid, body); err != nil {
		h.umaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "OK"})
}
