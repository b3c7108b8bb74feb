package api_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
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
