package api_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// hostileText are query values no stored filter value can hold: a NUL and
// invalid UTF-8 (both refused by PostgreSQL as text), a control character.
var hostileText = []string{"%00", "a%00b", "%FF", "%C3%28", "a%0Ab"}

// TestListFiltersRefuseBadText: list filters holding bytes no stored
// value can hold answer 400, on every database, never a 500.
func TestListFiltersRefuseBadText(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		for _, v := range hostileText {
			for _, path := range []string{"/users?platformUserId=" + v, "/tokens?name=" + v} {
				st, m, _ := f.req(t, "GET", path, &f.admin, "")
				wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
			}
		}
	})
}

// TestPaymentListsRefuseBadUserID: the userId filters of /transactions and
// /uma-requests take user ids, so anything else is a 400, as it is for
// GET /receiver.
func TestPaymentListsRefuseBadUserID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, v := range append([]string{"x", "Transaction:" + f.alice.UserID[len("User:"):]}, hostileText...) {
			for _, path := range []string{"/transactions?userId=" + v, "/uma-requests?userId=" + v} {
				status, raw, _ := f.call(t, "GET", path, &f.viewer, "")
				wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
			}
		}
	})
}
