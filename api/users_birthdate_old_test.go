package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A birthDate stored before a check refusing it (before 1900, or not a
// date) does not block the user's other edits, as an old e-mail or country
// code does not: it was checked on every PATCH, so no edit of that user
// passed. Sending it, or another bad one, is still refused.
func TestUserPatchOldBirthDate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		for _, old := range []string{"1899-12-31", "31/12/1970"} {
			if _, err := db.ExecContext(context.Background(), `UPDATE users SET profile = $1 WHERE id = $2`,
				`{"fullName":"Alice","birthDate":"`+old+`"}`, id); err != nil {
				t.Fatal(err)
			}
			st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"PENDING","fullName":"Alice B"}`)
			if st != http.StatusOK || m["kycStatus"] != "PENDING" || m["birthDate"] != old {
				t.Fatalf("edit of a user born %s: %d %v", old, st, m)
			}
			st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"birthDate":"`+old+`"}`)
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
			st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"VERIFIED"}`)
			if st != http.StatusOK || m["kycStatus"] != "VERIFIED" {
				t.Fatalf("second edit of a user born %s: %d %v", old, st, m)
			}
		}
	})
}
