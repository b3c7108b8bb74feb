package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestUsersDepositToDeletedUser: a deposit to a deleted user is still 404
// USER_NOT_FOUND (no money reaches a deleted account), but says the user
// was deleted: "not found" contradicted GET /users/{id}, which answers
// the user with isDeleted true, and sent the platform hunting a wrong id.
func TestUsersDepositToDeletedUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		if st, m, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, ""); st != http.StatusOK {
			t.Fatalf("delete: %d %v", st, m)
		}
		st, m, _ := f.req(t, "POST", "/users/"+id+"/deposits", &f.admin,
			`{"currencyCode":"USD","amount":100,"reference":"wire-1"}`, "Idempotency-Key", "k1")
		wantError(t, st, m, http.StatusNotFound, vaspd.CodeUserNotFound)
		if msg, _ := m["message"].(string); !strings.Contains(msg, "deleted") || strings.Contains(msg, "not found") {
			t.Errorf("message %q does not say the user is deleted", msg)
		}
		// A user that never existed is still "not found".
		st, m, _ = f.req(t, "POST", "/users/"+vaspd.NewID(vaspd.IDUser)+"/deposits", &f.admin,
			`{"currencyCode":"USD","amount":100,"reference":"wire-2"}`, "Idempotency-Key", "k2")
		wantError(t, st, m, http.StatusNotFound, vaspd.CodeUserNotFound)
		if msg, _ := m["message"].(string); !strings.Contains(msg, "not found") {
			t.Errorf("unknown user: message %q", msg)
		}
		if a, _ := f.balance(t, id, "USD"); a != 0 {
			t.Errorf("deleted user credited: %v", a)
		}
	})
}
