package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestListsForeignCursor: the cursor of GET /transactions, /uma-requests,
// /payment-requests, /tokens and /audit-events is the last id of a page.
// One that decoded to anything else (another list's id, text, an id in
// upper-case hex) was compared with the ids as it was: a User id as the
// cursor of /transactions?sortOrder=asc answered an empty last page
// (hasMore false), so a platform reconciling from it saw none of its
// payments and was told there were no more; "Transaction:z" answered the
// newest again. They are 400, as on /users and /webhooks; an issued
// cursor still pages.
func TestListsForeignCursor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		if st, raw := f.payBoth(t, f.quote(t, 500), &f.admin); st != http.StatusOK {
			t.Fatalf("execute: %d %s", st, raw)
		}
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, list := range []struct{ path, typ string }{
			{"/transactions?", vaspd.IDTransaction},
			{"/transactions?sortOrder=asc&", vaspd.IDTransaction},
			{"/uma-requests?", vaspd.IDUmaRequest},
			{"/payment-requests?", vaspd.IDPaymentRequest},
			{"/tokens?", vaspd.IDToken},
			{"/audit-events?", vaspd.IDAuditEvent},
			{"/audit-events?sortOrder=asc&", vaspd.IDAuditEvent},
		} {
			id := vaspd.NewID(list.typ)
			for _, c := range []string{list.typ + ":z", list.typ + ":", f.alice.UserID, vaspd.NewID(vaspd.IDQuote), "~", "0",
				list.typ + ":" + id, strings.ToUpper(id), list.typ + ":" + strings.ToUpper(id[len(list.typ)+1:])} {
				status, raw, _ := f.call(t, "GET", list.path+"cursor="+enc(c), &f.admin, "")
				if status != http.StatusBadRequest {
					t.Errorf("GET %s cursor %q: %d %s, want 400", list.path, c, status, raw)
					continue
				}
				wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
			}
			if status, raw, _ := f.call(t, "GET", list.path+"cursor="+enc(id), &f.admin, ""); status != http.StatusOK {
				t.Errorf("GET %s with an id as cursor: %d %s", list.path, status, raw)
			}
		}
		// An issued cursor pages on, both ways.
		for _, order := range []string{"desc", "asc"} {
			var seen []string
			path := "/transactions?limit=1&sortOrder=" + order
			for {
				status, raw, _ := f.call(t, "GET", path, &f.viewer, "")
				var page struct {
					Data       []struct{ ID string }
					HasMore    bool
					NextCursor string
				}
				if err := json.Unmarshal(raw, &page); status != http.StatusOK || err != nil {
					t.Fatalf("GET %s: %d %s", path, status, raw)
				}
				for _, x := range page.Data {
					seen = append(seen, x.ID)
				}
				if !page.HasMore {
					break
				}
				path = "/transactions?limit=1&sortOrder=" + order + "&cursor=" + page.NextCursor
			}
			if len(seen) != 2 || seen[0] == seen[1] {
				t.Errorf("%s: paged through %v, want both transactions once", order, seen)
			}
		}
	})
}
