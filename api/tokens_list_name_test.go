package api_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestTokensListNameTrimmed: POST /tokens stores a name trimmed of
// surrounding spaces, and GET /tokens?name= compared the filter as sent:
// a platform looking up, to revoke it, the token it made as "ci bot "
// found none, and the credential stayed live. The filter is trimmed
// alike, as /users trims its platformUserId filter.
func TestTokensListNameTrimmed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		st, m := f.do(t, "POST", "/tokens", &f.admin, "application/json", `{"name":" ci bot ","permissions":["VIEW"]}`)
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, m)
		}
		id := m["id"]
		for _, q := range []string{"ci%20bot", "%20ci%20bot%20", "ci+bot%20"} {
			st, m := f.do(t, "GET", "/tokens?name="+q, &f.admin, "", "")
			data, _ := m["data"].([]any)
			if st != http.StatusOK || len(data) != 1 || data[0].(map[string]any)["id"] != id {
				t.Errorf("GET /tokens?name=%s: %d %v, want the token %v", q, st, m, id)
			}
		}
	})
}
