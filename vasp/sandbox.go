package vasp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
)

// UMAaaS's sandbox (POST /sandbox/send and /sandbox/receive) lets a
// platform test its flows without real money: a simulated bank transfer
// funds a quote, a simulated sender pays one of its users. vaspd serves it
// only where its money is test money already: on the embedded Lightning
// node (which refuses mainnet), detected by the node offering
// SandboxPayer. On any other node (lnd) both answer 403 FORBIDDEN, as
// UMAaaS answers a production token. docs/sandbox.md describes it.

// SandboxPayer is the node's side of the sandbox: it pays one of the
// node's own invoices as a payer outside vaspd would (the embedded node's
// devnet settlement), so that the payment is credited by the flows'
// normal settlement path. Only a node whose money is test money offers it.
type SandboxPayer interface {
	PaySandboxInvoice(ctx context.Context, invoice string) error
}

// ErrSandboxOff is wrapped by the 403 every sandbox call answers on a node
// that is not the embedded test node.
var ErrSandboxOff = errors.New("the sandbox exists only on the embedded devnet node")

// sandboxPayer is the node's SandboxPayer, or a 403 FORBIDDEN.
func (s *Service) sandboxPayer() (SandboxPayer, error) {
	if p, ok := s.opt.Node.(SandboxPayer); ok && s.sandbox != nil {
		return p, nil
	}
	return nil, &vaspd.Error{Status: http.StatusForbidden, Code: vaspd.CodeForbidden, Err: ErrSandboxOff,
		Message: "the sandbox (POST /sandbox/send, POST /sandbox/receive) exists only on the embedded devnet node " +
			"(lightning=embedded), whose money is test money; this vaspd runs on another Lightning node, where money is real"}
}

// CheckSandbox is the 403 FORBIDDEN every sandbox call answers on a node
// that is not the embedded test node (ErrSandboxOff), or nil: the API asks
// it before reading a request, which on such a node can never succeed.
func (s *Service) CheckSandbox() error {
	_, err := s.sandboxPayer()
	return err
}

// sandboxDepositID is the ledger movement of the simulated transfer that
// funds quote quoteID: one per quote, so a retried send deposits once.
func sandboxDepositID(quoteID string) string { return "sandbox-send/" + quoteID }

// SandboxSend simulates the platform's bank transfer of amount of currency
// for the quote whose payment instructions' reference is reference (the
// quote's id): the quote's user is credited the transfer (a ledger
// deposit from the fiat rails, as POST /users/{id}/deposits books one) and
// the quote is executed as ExecuteQuote (POST /fbo/confirm/{quoteId})
// executes it, with idempotencyKey.
//
// The transfer must be what the quote instructs: its sending currency and
// its total sending amount, what executing it debits. The deposit is made
// in the transaction that claims the quote and reserves the money, after
// every check of the execute: an execute refused (the quote expired at
// its claim, its payment paid by another quote, the counterparty denied,
// the sender deleted or renamed, the key reused) deposits nothing, as it
// moves nothing. A retry deposits once (the movement is named by the
// quote) and answers the quote's transaction as ExecuteQuote does (422 for
// a key that executed another quote); one of another transfer (currency,
// amount) than the one deposited is refused as it was before the quote was
// paid. A quote executed otherwise (from the user's balance) is not funded
// after the fact: 409.
func (s *Service) SandboxSend(ctx context.Context, reference, currency string, amount int64, idempotencyKey string) (Transaction, error) {
	if _, err := s.sandboxPayer(); err != nil {
		return Transaction{}, err
	}
	notFound := vaspd.NotFound(vaspd.CodeReferenceNotFound, "no quote has the payment reference %q", vaspd.Truncate(reference, 80))
	// An id's UUID hex is case-insensitive: the quote is found as
	// GET /quotes/{id} finds it, in any case.
	id, err := vaspd.CanonicalID(vaspd.IDQuote, reference)
	if err != nil {
		return Transaction{}, notFound
	}
	q, err := s.GetQuote(ctx, id)
	if e := vaspd.AsError(err); err != nil && e.Status == http.StatusNotFound {
		return Transaction{}, notFound
	} else if err != nil {
		return Transaction{}, err
	}
	fund := &sandboxFunding{currency: currency, amount: amount}
	if q.TransactionID == "" {
		if err := fund.matches(q); err != nil {
			return Transaction{}, err
		}
		// Refused before the execute's checks: the transfer of a quote
		// that cannot be executed would only be money the user did not
		// ask for.
		switch {
		case q.Status == QuoteExpired:
			return Transaction{}, vaspd.Errorf(http.StatusConflict, vaspd.CodeQuoteExpired,
				"quote %s expired at %s: POST /quotes/%s/refresh for a new quote, and send for that one", q.ID, q.ExpiresAt.UTC().Format(time.RFC3339), q.ID)
		case q.Status != QuotePending:
			return Transaction{}, vaspd.Conflict(vaspd.CodeQuoteNotPending, "quote %s is %s: it cannot be funded", q.ID, q.Status)
		}
	}
	// Executed already, the execute answers a retry (executed: the
	// quote's transaction, or 422 for a key that executed another quote).
	return s.executeQuote(ctx, q.ID, idempotencyKey, fund)
}

// sandboxFunding is a simulated transfer funding the execute of a quote
// (SandboxSend).
type sandboxFunding struct {
	currency string
	amount   int64
}

// matches refuses (400) a transfer other than what quote q instructs: its
// sending currency and total sending amount (also a quote auto-refreshed
// since the platform read it: its terms, and so its total, are new). nil
// f matches every quote.
func (f *sandboxFunding) matches(q Quote) error {
	if f == nil {
		return nil
	}
	return sandboxTransferIs(q, q.SendingCurrency, q.debit(), f.currency, f.amount)
}

// executed answers an execute of quote q, executed already: its
// transaction. Funded by a sandbox transfer (f not nil), q must have been
// executed by one, else 409: it is not funded after the fact; and f must
// be the transfer that funded it (its terms are the deposit's: an
// auto-refresh may have moved the quote's before it was executed), else
// it is refused as any other transfer is. The transaction is Replayed:
// this execute made nothing.
func (s *Service) executed(ctx context.Context, q Quote, f *sandboxFunding) (Transaction, error) {
	if f != nil {
		dep, err := s.opt.Ledger.Get(ctx, s.db, sandboxDepositID(q.ID))
		if errors.Is(err, ledger.ErrNotFound) {
			return Transaction{}, vaspd.Conflict(vaspd.CodeQuoteAlreadyExecuted,
				"quote %s was executed from its user's balance (POST /quotes/{id}/execute or /fbo/confirm): there is nothing to transfer for it", q.ID)
		} else if err != nil {
			return Transaction{}, err
		}
		cur, amt := sandboxDeposited(dep, q.UserID)
		if err := sandboxTransferIs(q, cur, amt, f.currency, f.amount); err != nil {
			return Transaction{}, err
		}
	}
	t, err := s.GetTransaction(ctx, q.TransactionID)
	t.Replayed = err == nil
	return t, err
}

// deposit books f to q's user in tx, the transaction claiming q, before
// its reservation. tx's user is live (checkLive share-locked its row, as
// POST /users/{id}/deposits does).
func (s *Service) deposit(ctx context.Context, tx *store.Tx, q Quote, f *sandboxFunding) error {
	id := sandboxDepositID(q.ID)
	// Any error rolls the whole transaction back: no savepoint needed.
	_, err := s.opt.Ledger.TransferNoSavepoint(ctx, tx, ledger.Deposit(id, q.UserID, q.SendingCurrency, f.amount, id))
	switch {
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		// Deposited for the quote's earlier terms, by a vaspd that
		// deposited before the execute: that money is on the user's
		// balance.
		return vaspd.Conflict(vaspd.CodeConflict,
			"quote %s was funded by an earlier sandbox transfer of other terms; its user holds that money: execute the quote (POST /quotes/%s/execute)", q.ID, q.ID)
	case errors.Is(err, ledger.ErrOverflow):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidAmount,
			"the user's balance, available and held together, would exceed the largest amount this VASP can hold (%d)", int64(ledger.MaxBalance))
	case err != nil:
		return fmt.Errorf("sandbox deposit: %w", err)
	}
	return nil
}

// sandboxTransferIs refuses a transfer of amount of currency for quote q
// when it is not the transfer of wantAmount of wantCurrency that q
// instructs (or that funded it).
func sandboxTransferIs(q Quote, wantCurrency string, wantAmount int64, currency string, amount int64) error {
	if currency != wantCurrency {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency,
			"quote %s is paid in %s, not %q: send its totalSendingAmount, %d %s", q.ID, wantCurrency, vaspd.Truncate(currency, 16), wantAmount, wantCurrency)
	}
	if amount != wantAmount {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidAmount,
			"quote %s instructs a transfer of its totalSendingAmount, %d %s (smallest unit), not %d", q.ID, wantAmount, wantCurrency, amount)
	}
	return nil
}

// sandboxDeposited is the currency and amount the sandbox deposit dep
// credited to userID.
func sandboxDeposited(dep ledger.Movement, userID string) (string, int64) {
	for _, p := range dep.Postings {
		if p.Account == ledger.UserAccount(userID) {
			return p.Currency, p.Amount
		}
	}
	return "", 0
}
