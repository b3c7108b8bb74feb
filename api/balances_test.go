package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestDepositRetryAfterUserDeleted: a platform that lost a deposit's
// response retries it after the user was paid out and deleted. The deposit
// happened: the retry answers it (200, Idempotent-Replayed), as README
// promises for every retry, rather than a 404 that reads as "never
// credited" — while a new deposit to the deleted user is still refused.
func TestDepositRetryAfterUserDeleted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		dep := "/users/" + id + "/deposits"
		for _, c := range []struct{ body, key string }{
			{`{"currencyCode":"USD","amount":700}`, "dep-1"},
			{`{"currencyCode":"EUR","amount":300,"reference":"wire-9"}`, ""}, // keyed by its reference
		} {
			if st, m, _ := f.req(t, "POST", dep, &f.admin, c.body, "Idempotency-Key", c.key); st != http.StatusCreated {
				t.Fatalf("deposit: %d %v", st, m)
			}
		}
		for _, c := range []string{`{"currencyCode":"USD","amount":700}`, `{"currencyCode":"EUR","amount":300}`} {
			if st, m, _ := f.req(t, "POST", "/users/"+id+"/withdrawals", &f.admin, c, "Idempotency-Key", "out-"+c[17:20]); st != http.StatusCreated {
				t.Fatalf("withdrawal: %d %v", st, m)
			}
		}
		if st, m, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, ""); st != http.StatusOK {
			t.Fatalf("delete: %d %v", st, m)
		}

		st, m, h := f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":700}`, "Idempotency-Key", "dep-1")
		if st != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || m["amount"] != float64(700) {
			t.Fatalf("retry by key: %d %v", st, m)
		}
		st, m, h = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"EUR","amount":300,"reference":"wire-9"}`)
		if st != http.StatusOK || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry by reference: %d %v", st, m)
		}
		// The key with another request is still a reuse, and a new
		// deposit still finds no user.
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":701}`, "Idempotency-Key", "dep-1")
		wantError(t, st, m, 422, "IDEMPOTENCY_KEY_REUSED")
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "dep-2")
		wantError(t, st, m, 404, "USER_NOT_FOUND")
		if av, _ := f.balance(t, id, "USD"); av != 0 {
			t.Fatalf("USD after the retries: %v", av)
		}
	})
}

// hidingProvider is a rates provider from whose currencies the operator
// may drop one (a rates file reloaded without it).
type hidingProvider struct {
	rates.Provider
	hidden atomic.Pointer[string]
}

func (p *hidingProvider) Currencies(ctx context.Context) ([]rates.Currency, error) {
	cs, err := p.Provider.Currencies(ctx)
	if h := p.hidden.Load(); h != nil {
		cs = slices.DeleteFunc(slices.Clone(cs), func(c rates.Currency) bool { return c.Code == *h })
	}
	return cs, err
}

func (p *hidingProvider) Rate(ctx context.Context, code string) (rates.Rate, error) {
	if h := p.hidden.Load(); h != nil && *h == code {
		return rates.Rate{}, rates.ErrUnknownCurrency
	}
	return p.Provider.Rate(ctx, code)
}

// TestWithdrawCurrencyNoLongerConfigured: an operator drops a currency from
// the rates file while users still hold it. Their money must still be paid
// out (else it is stuck, and the user can never be deleted); a currency
// the user never held is still refused as unsupported, and deposits in it
// are refused.
func TestWithdrawCurrencyNoLongerConfigured(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		p := &hidingProvider{Provider: base}
		l := ledger.New(db, nil)
		u := users.New(db, nil, users.WithRates(p))
		f := &userFixture{fixture: newFixture(t, db, func(s *api.Server) { s.MountUsers(u, l, p, "VASP.example") }), db: db, ledger: l}
		t.Cleanup(func() {
			if err := l.Check(context.Background(), db); err != nil {
				t.Errorf("ledger check: %v", err)
			}
		})
		id := f.create(t, `{"umaAddress":"$gone","platformUserId":"p","userType":"INDIVIDUAL"}`)
		if st, m, _ := f.req(t, "POST", "/users/"+id+"/deposits", &f.admin, `{"currencyCode":"GBP","amount":900}`, "Idempotency-Key", "d"); st != http.StatusCreated {
			t.Fatalf("deposit: %d %v", st, m)
		}
		gbp := "GBP"
		p.hidden.Store(&gbp)

		st, m, _ := f.req(t, "POST", "/users/"+id+"/deposits", &f.admin, `{"currencyCode":"GBP","amount":1}`, "Idempotency-Key", "d2")
		wantError(t, st, m, 400, "INVALID_CURRENCY")
		// The deposit made before, retried after a lost response, is
		// answered: it happened.
		st, m, h := f.req(t, "POST", "/users/"+id+"/deposits", &f.admin, `{"currencyCode":"GBP","amount":900}`, "Idempotency-Key", "d")
		if st != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || m["currency"].(map[string]any)["code"] != "GBP" {
			t.Fatalf("deposit retried after its currency was dropped: %d %v", st, m)
		}
		st, m, _ = f.req(t, "POST", "/users/"+id+"/withdrawals", &f.admin, `{"currencyCode":"XYZ","amount":1}`, "Idempotency-Key", "w0")
		wantError(t, st, m, 400, "INVALID_CURRENCY")
		st, m, _ = f.req(t, "POST", "/users/"+id+"/withdrawals", &f.admin, `{"currencyCode":"gbp","amount":901}`, "Idempotency-Key", "w1")
		wantError(t, st, m, 400, "INSUFFICIENT_BALANCE")
		st, m, _ = f.req(t, "POST", "/users/"+id+"/withdrawals", &f.admin, `{"currencyCode":"gbp","amount":900}`, "Idempotency-Key", "w1")
		if st != http.StatusCreated || m["currency"].(map[string]any)["code"] != "GBP" || m["amount"] != float64(900) {
			t.Fatalf("withdrawal of a currency no longer configured: %d %v", st, m)
		}
		if st, m, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, ""); st != http.StatusOK {
			t.Fatalf("delete once paid out: %d %v", st, m)
		}
	})
}

// TestDepositPastCapCountsHeldMoney: the cap on a user's balance counts
// what is held for payments in flight, so that a failed payment's money
// can always go back; a deposit past it is 400 INVALID_AMOUNT saying so,
// and a retry of a deposit recorded before is still answered.
func TestDepositPastCapCountsHeldMoney(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		dep := "/users/" + id + "/deposits"
		st, m, _ := f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":9000000000000000}`, "Idempotency-Key", "full")
		if st != http.StatusCreated {
			t.Fatalf("deposit: %d %v", st, m)
		}
		if _, err := f.ledger.Post(context.Background(), ledger.Reserve("reserve/x", id, "USD", 1000, "test")); err != nil {
			t.Fatal(err)
		}
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":1}`, "Idempotency-Key", "one")
		wantError(t, st, m, 400, "INVALID_AMOUNT")
		if msg, _ := m["message"].(string); !strings.Contains(msg, "held") {
			t.Errorf("the message does not say held money counts: %q", msg)
		}
		if st, _, h := f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":9000000000000000}`, "Idempotency-Key", "full"); st != http.StatusOK || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry of the first deposit: %d", st)
		}
		if _, err := f.ledger.Post(context.Background(), ledger.Release("release/x", id, "USD", 1000, "test")); err != nil {
			t.Fatalf("release: %v", err)
		}
		if av, held := f.balance(t, id, "USD"); av != 9e15 || held != 0 {
			t.Fatalf("USD %v available, %v held", av, held)
		}
	})
}
