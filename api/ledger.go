package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
)

// MountLedger adds the platform's view of, and say over, the VASP's own
// books:
//
//	GET  /ledger/accounts   VIEW    every system account's balances
//	POST /ledger/transfers  MANAGE  keep money held for no one as income;
//	                                idempotent (Idempotency-Key)
func (s *Server) MountLedger(db *store.DB, l *ledger.Ledger, r rates.Provider) {
	h := &ledgerHandlers{db: db, ledger: l, rates: r}
	s.Handle("GET /ledger/accounts", vaspd.PermView, h.accounts)
	s.Handle("POST /ledger/transfers", vaspd.PermManage, h.transfer, Audited)
}

type ledgerHandlers struct {
	db     *store.DB
	ledger *ledger.Ledger
	rates  rates.Provider
}

// btcCurrency describes the ledger's bitcoin currency, which no rates file
// configures: its amounts are msats, 10^11 to the bitcoin.
var btcCurrency = rates.Currency{Code: ledger.BTC, Name: "Bitcoin", Symbol: "₿", Decimals: 11}

// currency describes code as GET /users/{userId}/balances does: as the
// provider configures it, else by its code alone (no longer configured).
func (h *ledgerHandlers) currency(known map[string]rates.Currency, code string) rates.Currency {
	if c, ok := known[code]; ok {
		return c
	}
	if code == ledger.BTC {
		return btcCurrency
	}
	return rates.Currency{Code: code, Name: code}
}

func (h *ledgerHandlers) known(r *http.Request) (map[string]rates.Currency, error) {
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

// systemBalance is one currency of a system account, in the currency's
// smallest unit; it may be negative (see docs/users.md).
type systemBalance struct {
	Currency rates.Currency `json:"currency"`
	Amount   int64          `json:"amount"`
}

type systemAccount struct {
	Account  string          `json:"account"`
	Balances []systemBalance `json:"balances"`
}

type systemAccounts struct {
	Accounts []systemAccount `json:"accounts"`
}

// accounts lists the system accounts vaspd books to (at no balances if
// never used), then any other system account the ledger holds postings of.
func (h *ledgerHandlers) accounts(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.ledger.SystemBalances(r.Context(), h.db)
	if err != nil {
		return err
	}
	known, err := h.known(r)
	if err != nil {
		return err
	}
	out := systemAccounts{Accounts: []systemAccount{}}
	for _, a := range ledger.BySystemAccount(bs) {
		sa := systemAccount{Account: string(a.Account), Balances: []systemBalance{}}
		for _, b := range a.Balances {
			sa.Balances = append(sa.Balances, systemBalance{Currency: h.currency(known, b.Currency), Amount: b.Amount})
		}
		out.Accounts = append(out.Accounts, sa)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// systemTransferRequest is the body of POST /ledger/transfers.
type systemTransferRequest struct {
	From         string `json:"from"`
	To           string `json:"to"`
	CurrencyCode string `json:"currencyCode"`
	Amount       int64  `json:"amount"`
	Reference    string `json:"reference"`
	// IdempotencyKey may replace the Idempotency-Key header.
	IdempotencyKey string `json:"idempotencyKey"`
}

type systemTransfer struct {
	ID        string         `json:"id"` // the ledger movement id
	Type      string         `json:"type"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Currency  rates.Currency `json:"currency"`
	Amount    int64          `json:"amount"`
	Reference string         `json:"reference,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
}

// transfer moves money the VASP holds for no one (system:overpaid,
// system:unmatched) to its income (system:fees): the platform keeps it.
// Refunds are the platform's own business: vaspd cannot pay a payer who
// sent no invoice.
func (h *ledgerHandlers) transfer(w http.ResponseWriter, r *http.Request) error {
	var req systemTransferRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	from := ledger.Account(req.From)
	if from != ledger.Overpaid && from != ledger.Unmatched {
		return vaspd.InvalidInput("from must be %s or %s, got %q", ledger.Overpaid, ledger.Unmatched, vaspd.Truncate(req.From, 80))
	}
	if ledger.Account(req.To) != ledger.Fees {
		return vaspd.InvalidInput("to must be %s (the VASP keeps the money as income), got %q", ledger.Fees, vaspd.Truncate(req.To, 80))
	}
	if err := checkMovementInput(req.Amount, &req.Reference); err != nil {
		return err
	}
	code := strings.ToUpper(strings.TrimSpace(req.CurrencyCode))
	if !ledger.ValidCurrency(code) {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency, "currencyCode %q is not a currency code",
			vaspd.Truncate(req.CurrencyCode, 16))
	}
	key, err := requestIdempotencyKey(r, req.IdempotencyKey)
	if err != nil {
		return err
	}
	if key == "" {
		return vaspd.InvalidInput("an Idempotency-Key header (or idempotencyKey field) is required, so that a retried transfer is never recorded twice")
	}
	if err := checkIdempotencyKey(key, ledgerMaxKey); err != nil {
		return err
	}
	known, err := h.known(r)
	if err != nil {
		return err
	}
	var m ledger.Movement
	err = h.db.InTx(r.Context(), func(tx *store.Tx) error {
		var err error
		m, err = h.ledger.TransferCovered(r.Context(), tx, ledger.Keep("keep/"+key, from, code, req.Amount, req.Reference))
		return err
	})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if m.Replayed {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	noteCreated(r, m.ID)
	WriteJSON(w, status, systemTransfer{ID: m.ID, Type: "KEEP", From: string(from), To: string(ledger.Fees),
		Currency: h.currency(known, code), Amount: req.Amount, Reference: m.Reference, CreatedAt: m.CreatedAt})
	return nil
}
