package api_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// GET /users?platformUserId= is trimmed of surrounding spaces, as the
// stored platformUserId is (and as the umaAddress filter is): " p-1 " found
// no one, though POST /users with " p-1 " stores the user as "p-1".
func TestUsersListPlatformUserIDTrimmed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON) // platformUserId "p-1"
		for _, q := range []string{"p-1", "%20p-1%20", "%09p-1"} {
			st, m, _ := f.req(t, "GET", "/users?platformUserId="+q, &f.viewer, "")
			data, _ := m["data"].([]any)
			if st != http.StatusOK || len(data) != 1 || data[0].(map[string]any)["id"] != id {
				t.Errorf("platformUserId=%s: %d %v", q, st, m)
			}
		}
	})
}
