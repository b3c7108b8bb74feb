package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestUsersListForeignCursor: a cursor is the last user id of a page. One
// that decodes to anything else (another list's id, text) was used as it
// was, comparing ids with it: "User:z" answered the first page again,
// "Quote:…" an empty list, both 200 as if the cursor were good. They are
// 400, as a cursor that does not decode is.
func TestUsersListForeignCursor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		a := f.create(t, `{"umaAddress":"$a","platformUserId":"p","userType":"INDIVIDUAL"}`)
		f.create(t, `{"umaAddress":"$b","platformUserId":"p","userType":"INDIVIDUAL"}`)
		enc := base64.RawURLEncoding.EncodeToString
		for _, c := range []string{"User:z", vaspd.NewID(vaspd.IDQuote), "~", "User:" + a, strings.ToUpper(a[:5]) + strings.ToUpper(a[5:]), "User:" + strings.ToUpper(a[5:])} {
			st, m, _ := f.req(t, "GET", "/users?cursor="+enc([]byte(c)), &f.viewer, "")
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		st, m, _ := f.req(t, "GET", "/users?limit=1", &f.viewer, "")
		if st != http.StatusOK || m["hasMore"] != true {
			t.Fatalf("first page: %d %v", st, m)
		}
		st, m, _ = f.req(t, "GET", "/users?limit=1&cursor="+m["nextCursor"].(string), &f.viewer, "")
		if data, _ := m["data"].([]any); st != http.StatusOK || len(data) != 1 || data[0].(map[string]any)["id"] != a {
			t.Fatalf("second page: %d %v", st, m)
		}
	})
}
