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

// TestDateFiltersTakeUnescapedPlus: a "+" offset left unescaped in a query
// string arrives as a space; every date filter reads it as the "+" it was,
// as /users always did, and still refuses what is not a date.
func TestDateFiltersTakeUnescapedPlus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		pay := newPayFixture(t, db)
		for _, q := range []string{"startDate=2025-01-02T15:04:05+01:00", "endDate=2025-01-02T15:04:05.5+01:00"} {
			status, raw, _ := pay.call(t, "GET", "/transactions?"+q, &pay.viewer, "")
			if status != http.StatusOK {
				t.Errorf("/transactions?%s: %d %s", q, status, raw)
			}
		}
		status, raw, _ := pay.call(t, "GET", "/transactions?endDate=2025-01-02T15:04:05%2001:00x", &pay.viewer, "")
		wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)

		wh := newWebhookFixture(t, db)
		for _, q := range []string{"since=2025-01-02T15:04:05+01:00", "until=2025-01-02T15:04:05.5+01:00"} {
			if st, m := wh.do(t, "GET", "/webhooks/deliveries?"+q, &wh.viewer, "", ""); st != http.StatusOK {
				t.Errorf("/webhooks/deliveries?%s: %d %v", q, st, m)
			}
		}
		st, m := wh.do(t, "GET", "/webhooks/deliveries?until=2025-13-02T15:04:05+01:00", &wh.viewer, "", "")
		wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
	})
}
