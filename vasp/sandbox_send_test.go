package vasp_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/vasp/vasptest"
)

// deletedAfterRead is a directory whose users are deleted (by another
// process, say) right after ByID first reads them live.
type deletedAfterRead struct {
	vasptest.Directory
	mu   sync.Mutex
	gone map[string]bool
}

func (d *deletedAfterRead) ByID(ctx context.Context, id string) (vasp.Recipient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.Directory.ByID(ctx, id)
	if err != nil || d.gone[id] {
		return vasp.Recipient{}, vaspd.NotFound(vaspd.CodeUserNotFound, "user %s not found", id)
	}
	d.gone[id] = true
	return r, nil
}

func (d *deletedAfterRead) CheckLive(_ context.Context, _ store.Querier, id, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gone[id] {
		return vaspd.NotFound(vaspd.CodeUserNotFound, "user %s not found", id)
	}
	return nil
}

// A simulated transfer for the quote of a user deleted meanwhile (after
// the send read the user live, before it deposited) deposits nothing: a
// deleted user receives no money, as POST /users/{id}/deposits refuses.
func TestSandboxSendUserDeletedMeanwhile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		dir := &deletedAfterRead{Directory: h.w.users, gone: map[string]bool{}}
		s := h.w.service(t, func(o *vasp.Options) { o.Users, o.Clock = dir, vaspd.SystemClock{} })
		_, err = s.SandboxSend(t.Context(), q.ID, q.SendingCurrency, q.SendingAmount, "")
		wantStatus(t, err, http.StatusNotFound, vaspd.CodeUserNotFound)
		if got := balance(t, db, ledger.UserAccount(h.w.alice.UserID), q.SendingCurrency); got != 0 {
			t.Fatalf("the deleted user was deposited %d", got)
		}
	})
}

// A simulated transfer that would take its user past the ledger's balance
// cap is refused as POST /users/{id}/deposits refuses one, 400
// INVALID_AMOUNT, not an internal error; nothing is deposited or paid.
func TestSandboxSendPastBalanceCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, ledger.MaxBalance)
		q, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.s.SandboxSend(t.Context(), q.ID, q.SendingCurrency, q.SendingAmount, "")
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeInvalidAmount)
		if got := balance(t, db, ledger.UserAccount(h.w.alice.UserID), q.SendingCurrency); got != ledger.MaxBalance {
			t.Fatalf("alice has %d, want %d", got, int64(ledger.MaxBalance))
		}
	})
}

// A simulated transfer sent with an Idempotency-Key another quote's
// execute used is refused 422 IDEMPOTENCY_KEY_REUSED before anything
// moves: the key names that execute, and the transfer for this quote is
// not deposited (a later send with its own key deposits and pays it).
func TestSandboxSendKeyOfAnotherQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		qa := h.fundedQuote(t)
		if _, err := h.s.ExecuteQuote(t.Context(), qa.ID, "key-a"); err != nil {
			t.Fatal(err)
		}
		qb, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		before := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD")
		_, err = h.s.SandboxSend(t.Context(), qb.ID, qb.SendingCurrency, qb.SendingAmount, "key-a")
		wantStatus(t, err, http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused)
		if got := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"); got != before {
			t.Fatalf("the refused transfer deposited: alice has %d, had %d", got, before)
		}
		if tr, err := h.s.SandboxSend(t.Context(), qb.ID, qb.SendingCurrency, qb.SendingAmount, "key-b"); err != nil || tr.QuoteID != qb.ID {
			t.Fatalf("send with its own key: %+v %v", tr, err)
		}
	})
}
