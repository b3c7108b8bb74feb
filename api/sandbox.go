package api

import (
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/vasp"
)

// UMAaaS's sandbox (docs/sandbox.md): POST /sandbox/send funds a quote by a
// simulated bank transfer, POST /sandbox/receive has a simulated sender
// pay one of the platform's users. Served only on the embedded devnet
// node; elsewhere both answer 403 FORBIDDEN (vasp.ErrSandboxOff) whatever
// the request holds (it is not read). Both are audited: each puts money on
// a user's balance that no payment brought, as a deposit does.
func (s *Server) mountSandbox(h *paymentHandlers) {
	s.Handle("POST /sandbox/send", vaspd.PermTransact, h.sandboxSend, Audited)
	s.Handle("POST /sandbox/receive", vaspd.PermTransact, h.sandboxReceive, Audited)
}

type sandboxSendRequest struct {
	Reference      string `json:"reference"`
	CurrencyCode   string `json:"currencyCode"`
	CurrencyAmount int64  `json:"currencyAmount"`
}

// sandboxSend answers as POST /fbo/confirm/{quoteId} does: the quote's
// transaction, marked Idempotent-Replayed for a quote executed already (a
// retry: nothing deposited, nothing paid).
func (h *paymentHandlers) sandboxSend(w http.ResponseWriter, r *http.Request) error {
	if err := h.v.CheckSandbox(); err != nil {
		return err // before the body: no request succeeds here
	}
	var req sandboxSendRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.Reference == "":
		return vaspd.InvalidInput("reference is required: the paymentInstructions.reference of the quote (its quoteId)")
	case req.CurrencyCode == "":
		return vaspd.InvalidInput("currencyCode is required")
	}
	if err := checkAmount("currencyAmount", req.CurrencyAmount); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	answerWithin(w, h.v.PayTimeout()) // the payment is awaited, as execute's
	t, err := h.v.SandboxSend(r.Context(), req.Reference, strings.ToUpper(req.CurrencyCode), req.CurrencyAmount, key)
	if err != nil {
		return err
	}
	noteCreated(r, t.ID)
	writeTransaction(w, r, h.v, t)
	return nil
}

type sandboxReceiveRequest struct {
	SenderUmaAddress        string `json:"senderUmaAddress"`
	ReceiverUmaAddress      string `json:"receiverUmaAddress"`
	UserID                  string `json:"userId"`
	ReceivingCurrencyCode   string `json:"receivingCurrencyCode"`
	ReceivingCurrencyAmount int64  `json:"receivingCurrencyAmount"`
}

// sandboxReceive answers the incoming transaction once the platform has
// decided on it and, approved, the sandbox sender has paid its invoice;
// its crediting, and the COMPLETED webhook, follow through the normal
// settlement path. With an Idempotency-Key, a retry is answered that
// transaction, as it is then, marked Idempotent-Replayed (and so in its
// audit event), and pays nothing.
func (h *paymentHandlers) sandboxReceive(w http.ResponseWriter, r *http.Request) error {
	if err := h.v.CheckSandbox(); err != nil {
		return err // before the body: no request succeeds here
	}
	var req sandboxReceiveRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.SenderUmaAddress == "":
		return vaspd.InvalidInput("senderUmaAddress is required: a sandbox sender such as $success.usd@%s", vasp.SandboxDomain)
	case req.ReceiverUmaAddress == "" && req.UserID == "":
		return vaspd.InvalidInput("receiverUmaAddress or userId is required: the user to pay")
	case req.ReceivingCurrencyCode == "":
		return vaspd.InvalidInput("receivingCurrencyCode is required")
	}
	if err := checkAmount("receivingCurrencyAmount", req.ReceivingCurrencyAmount); err != nil {
		return err
	}
	if req.UserID != "" {
		var err error
		if req.UserID, err = vaspd.CanonicalID(vaspd.IDUser, req.UserID); err != nil {
			return vaspd.InvalidInput("userId: %v", err)
		}
	}
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	// The platform's approval webhook, and a 202's later decision, are
	// awaited: as long as a counterparty's payreq would wait.
	answerWithin(w, h.v.ApprovalTimeout()+h.v.CounterpartyTimeout())
	t, err := h.v.SandboxReceive(r.Context(), vasp.SandboxReceive{
		Sender: req.SenderUmaAddress, Receiver: req.ReceiverUmaAddress, UserID: req.UserID,
		Currency: strings.ToUpper(req.ReceivingCurrencyCode), Amount: req.ReceivingCurrencyAmount, IdempotencyKey: key,
	})
	if err != nil {
		return err
	}
	noteCreated(r, t.ID)
	writeTransaction(w, r, h.v, t)
	return nil
}
