package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
)

// maxAmount bounds the amounts the platform API takes (deposits,
// withdrawals, quotes, payment requests), as UMAaaS bounds amounts: below
// 2^53, so that a JSON reader using doubles reads them exactly.
const maxAmount = 9_000_000_000_000_000

// checkAmount refuses an amount field (named name) out of 1..maxAmount
// with 400 INVALID_AMOUNT, the code every amount out of range gets
// (jsonError gives it to one too large for an int64 too).
func checkAmount(name string, amount int64) error {
	if amount <= 0 || amount > maxAmount {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidAmount,
			"%s must be from 1 to %d, in the currency's smallest unit", name, int64(maxAmount))
	}
	return nil
}

// ledgerMaxKey bounds a deposit's or withdrawal's idempotency key, which
// becomes part of a ledger movement id (at most 200 characters).
const ledgerMaxKey = 128

// idempotencyMaxKey bounds the Idempotency-Key of the other endpoints that
// honour one (execute, invitations, bulk uploads), stored as it is sent.
const idempotencyMaxKey = 255

// ledgerBalance is one currency of GET /users/{userId}/balances, in the
// currency's smallest unit: available to spend, and held for outgoing
// payments in flight.
type ledgerBalance struct {
	Currency  rates.Currency `json:"currency"`
	Available int64          `json:"available"`
	Held      int64          `json:"held"`
}

type ledgerBalances struct {
	UserID   string          `json:"userId"`
	Balances []ledgerBalance `json:"balances"`
}

// ledgerCurrencies returns the provider's currencies by code.
func (h *userHandlers) ledgerCurrencies(r *http.Request) (map[string]rates.Currency, error) {
	cs, err := h.rates.Currencies(r.Context())
	if err != nil {
		return nil, err
	}
	out := make(map[string]rates.Currency, len(cs))
	for _, c := range cs {
		out[c.Code] = c
	}
	return out, nil
}

// balances lists the user's balances: their preferred currencies first (at
// zero if never used), then every other currency they ever held.
func (h *userHandlers) balances(w http.ResponseWriter, r *http.Request) error {
	id, err := userPathID(r)
	if err != nil {
		return err
	}
	u, err := h.users.GetIncludingDeleted(r.Context(), h.users.DB(), id)
	if err != nil {
		return err
	}
	bs, err := h.ledger.UserBalances(r.Context(), h.users.DB(), id)
	if err != nil {
		return err
	}
	known, err := h.ledgerCurrencies(r)
	if err != nil {
		return err
	}
	out := ledgerBalances{UserID: id, Balances: []ledgerBalance{}}
	seen := map[string]bool{}
	add := func(b ledger.UserBalance) {
		c, ok := known[b.Currency]
		if !ok {
			c = rates.Currency{Code: b.Currency, Name: b.Currency} // no longer configured
		}
		seen[b.Currency] = true
		out.Balances = append(out.Balances, ledgerBalance{Currency: c, Available: b.Available, Held: b.Held})
	}
	for _, code := range u.PreferredCurrencies {
		b := ledger.UserBalance{Currency: code}
		for _, x := range bs {
			if x.Currency == code {
				b = x
			}
		}
		add(b)
	}
	for _, b := range bs {
		if !seen[b.Currency] {
			add(b)
		}
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// ledgerTransferRequest is the body of POST /users/{userId}/deposits and
// /withdrawals: money the platform received for the user, or paid out to
// them, on its own fiat rails.
type ledgerTransferRequest struct {
	CurrencyCode string `json:"currencyCode"`
	Amount       int64  `json:"amount"`
	// Reference is the platform's reference of the bank transfer; unique
	// per kind (one deposit per reference).
	Reference string `json:"reference"`
	// IdempotencyKey may replace the Idempotency-Key header.
	IdempotencyKey string `json:"idempotencyKey"`
}

// ledgerTransfer is the response: the recorded movement.
type ledgerTransfer struct {
	ID        string         `json:"id"` // the ledger movement id
	Type      string         `json:"type"`
	UserID    string         `json:"userId"`
	Currency  rates.Currency `json:"currency"`
	Amount    int64          `json:"amount"`
	Reference string         `json:"reference,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
}

func (h *userHandlers) deposit(w http.ResponseWriter, r *http.Request) error {
	return h.ledgerTransfer(w, r, "deposit")
}

func (h *userHandlers) withdrawal(w http.ResponseWriter, r *http.Request) error {
	return h.ledgerTransfer(w, r, "withdrawal")
}

// ledgerMovementID derives the movement id, which makes the request
// idempotent: the Idempotency-Key header or idempotencyKey field if given,
// else the reference. Keys are scoped per user and kind.
func ledgerMovementID(r *http.Request, kind, userID string, req ledgerTransferRequest) (string, error) {
	key, err := requestIdempotencyKey(r, req.IdempotencyKey)
	if err != nil {
		return "", err
	}
	if key == "" {
		if req.Reference == "" {
			return "", vaspd.InvalidInput("an Idempotency-Key header (or an idempotencyKey or reference field) is "+
				"required, so that a retried %s is never recorded twice", kind)
		}
		sum := sha256.Sum256([]byte(req.Reference))
		return kind + "/" + userID + "/ref:" + hex.EncodeToString(sum[:16]), nil
	}
	if err := checkIdempotencyKey(key, ledgerMaxKey); err != nil {
		return "", err
	}
	return kind + "/" + userID + "/" + key, nil
}

// requestIdempotencyKey is a ledger request's idempotency key: the
// Idempotency-Key header or the body's idempotencyKey field (field), which
// must agree when both are given; "" when neither is.
func requestIdempotencyKey(r *http.Request, field string) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if field != "" {
		if key != "" && key != field {
			return "", vaspd.InvalidInput("the Idempotency-Key header and the idempotencyKey field differ")
		}
		key = field
		// The audit event, written before the body was read, has only
		// the header's: it records this one with the outcome.
		if n := noteOf(r.Context()); n != nil {
			n.idempotencyKey = key
		}
	}
	return key, nil
}

// checkMovementInput checks a ledger request's amount and reference, which
// it trims: the same bounds for every movement the platform asks for.
func checkMovementInput(amount int64, reference *string) error {
	if err := checkAmount("amount", amount); err != nil {
		return err
	}
	*reference = strings.TrimSpace(*reference)
	if len(*reference) > 200 || strings.ContainsFunc(*reference, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) {
		return vaspd.InvalidInput("reference must be at most 200 characters of printable text")
	}
	return nil
}

// checkIdempotencyKey refuses a key longer than max or holding anything but
// printable ASCII without spaces: keys are stored and compared as text.
func checkIdempotencyKey(key string, max int) error {
	if len(key) > max {
		return vaspd.InvalidInput("the idempotency key must be at most %d characters", max)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return vaspd.InvalidInput("the idempotency key must be printable ASCII without spaces")
		}
	}
	return nil
}

func (h *userHandlers) ledgerTransfer(w http.ResponseWriter, r *http.Request, kind string) error {
	id, err := userPathID(r)
	if err != nil {
		return err
	}
	var req ledgerTransferRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := checkMovementInput(req.Amount, &req.Reference); err != nil {
		return err
	}
	mid, err := ledgerMovementID(r, kind, id, req)
	if err != nil {
		return err
	}
	code := strings.ToUpper(strings.TrimSpace(req.CurrencyCode))
	cur, err := rates.Find(r.Context(), h.rates, code)
	if errors.Is(err, rates.ErrUnknownCurrency) && ledger.ValidCurrency(code) {
		// A currency dropped from the rates file is still good for a
		// retry of a movement recorded in it (answered as the first
		// request was), and for paying out what the user still holds in
		// it (else their money is stuck, and they can never be deleted).
		// Shown by its code alone, as GET /users/{userId}/balances shows it.
		if ok, derr := h.dropped(r, kind, id, code, mid); derr != nil {
			return derr
		} else if ok {
			cur, err = rates.Currency{Code: code, Name: code}, nil
		}
	}
	if errors.Is(err, rates.ErrUnknownCurrency) {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency, "currency %q is not supported by this VASP",
			vaspd.Truncate(req.CurrencyCode, 16))
	}
	if err != nil {
		return err
	}
	var m ledger.Movement
	err = h.users.DB().InTx(r.Context(), func(tx *store.Tx) error {
		if kind == "deposit" {
			// Only live users receive money; the lock keeps a concurrent
			// DELETE from passing its zero-balance check meanwhile. A
			// retry of a deposit already recorded credits nothing: it is
			// answered (replayed, or refused as a reuse) even if the user
			// has been paid out and deleted since.
			if _, err := h.users.Lock(r.Context(), tx, id); err != nil {
				if vaspd.AsError(err).Status != http.StatusNotFound {
					return err
				}
				if _, gerr := h.ledger.Get(r.Context(), tx, mid); errors.Is(gerr, ledger.ErrNotFound) {
					return err // a new deposit: the user is gone
				} else if gerr != nil {
					return gerr
				}
			}
			m, err = h.ledger.Transfer(r.Context(), tx, ledger.Deposit(mid, id, cur.Code, req.Amount, req.Reference))
			return err
		}
		// A deleted user may still withdraw money that reached them late.
		if _, err := h.users.GetIncludingDeleted(r.Context(), tx, id); err != nil {
			return err
		}
		m, err = h.ledger.Transfer(r.Context(), tx, ledger.Withdrawal(mid, id, cur.Code, req.Amount, req.Reference))
		return err
	})
	if errors.Is(err, ledger.ErrOverflow) {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidAmount, "the user's balance, available and held together, would exceed the largest amount this VASP can hold (%d)", int64(ledger.MaxBalance))
	}
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if m.Replayed {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	// The event names the user (the path's): the movement is the
	// outcome's createdId, the one place a movement keyed by its
	// reference alone is named.
	noteCreated(r, m.ID)
	WriteJSON(w, status, ledgerTransfer{ID: m.ID, Type: strings.ToUpper(kind), UserID: id, Currency: cur,
		Amount: req.Amount, Reference: m.Reference, CreatedAt: m.CreatedAt})
	return nil
}

// dropped reports whether a deposit or withdrawal (kind) in currency, no
// longer configured, may go ahead: its movement mid is recorded already (a
// retry), or it is a withdrawal and the user's spendable account ever held
// currency (it has a balance row in it).
func (h *userHandlers) dropped(r *http.Request, kind, userID, currency, mid string) (bool, error) {
	if _, err := h.ledger.Get(r.Context(), h.users.DB(), mid); err == nil {
		return true, nil
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return false, err
	}
	if kind != "withdrawal" {
		return false, nil
	}
	bs, err := h.ledger.Balances(r.Context(), h.users.DB(), ledger.UserAccount(userID))
	if err != nil {
		return false, err
	}
	for _, b := range bs {
		if b.Currency == currency {
			return true, nil
		}
	}
	return false, nil
}
