package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestListsRefuseReversedDates: a list's date range whose start is after
// its end (startDate > endDate, createdAfter > createdBefore, since >
// until) matches nothing, and was answered 200 {"data":[],"hasMore":false}:
// a platform that swapped the two bounds was told no payment was made in
// the window it reconciles, with nothing to tell it the question was
// wrong. It is 400, as GET /ledger/reconciliation answers its own; equal
// bounds, both inclusive, still list what was made at that instant.
func TestListsRefuseReversedDates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		pay := newPayFixture(t, db)
		if st, raw := pay.payBoth(t, pay.quote(t, 500), &pay.admin); st != http.StatusOK {
			t.Fatalf("execute: %d %s", st, raw)
		}
		// The end is a microsecond before the start, written in
		// another zone: 16:04:05+01:00 is 15:04:05Z.
		reversed := func(from, to string) string {
			return from + "=2025-01-02T15:04:05.000001Z&" + to + "=2025-01-02T16:04:05%2B01:00"
		}
		for _, path := range []string{
			"/transactions?" + reversed("startDate", "endDate"),
			"/transactions?sortOrder=asc&" + reversed("startDate", "endDate"),
			"/tokens?" + reversed("createdAfter", "createdBefore"),
			"/tokens?" + reversed("updatedAfter", "updatedBefore"),
			"/audit-events?" + reversed("startDate", "endDate"),
		} {
			status, raw, _ := pay.call(t, "GET", path, &pay.admin, "")
			wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		// Equal bounds are an instant, both ends inclusive: the
		// transaction made then is listed.
		status, raw, _ := pay.call(t, "GET", "/transactions?limit=1", &pay.viewer, "")
		var page struct {
			Data []struct{ ID, CreatedAt string }
		}
		if err := json.Unmarshal(raw, &page); status != http.StatusOK || err != nil || len(page.Data) != 1 {
			t.Fatalf("list: %d %s", status, raw)
		}
		at := url.QueryEscape(page.Data[0].CreatedAt)
		status, raw, _ = pay.call(t, "GET", "/transactions?startDate="+at+"&endDate="+at, &pay.viewer, "")
		var got struct{ Data []struct{ ID string } }
		if err := json.Unmarshal(raw, &got); status != http.StatusOK || err != nil || len(got.Data) != 1 || got.Data[0].ID != page.Data[0].ID {
			t.Errorf("startDate = endDate = its createdAt: %d %s, want %s", status, raw, page.Data[0].ID)
		}

		users := newUserFixture(t, db)
		for _, path := range []string{"/users?" + reversed("createdAfter", "createdBefore"), "/users?" + reversed("updatedAfter", "updatedBefore")} {
			st, m, _ := users.req(t, "GET", path, &users.viewer, "")
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		wh := newWebhookFixture(t, db)
		st, m := wh.do(t, "GET", "/webhooks/deliveries?"+reversed("since", "until"), &wh.viewer, "", "")
		wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
	})
}
