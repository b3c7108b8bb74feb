package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestUsersEmail: email must be an e-mail address, local part @ domain.
// "@", "a@" and "@b" were accepted (only an "@" was looked for). One
// stored before the check does not block the user's other edits.
func TestUsersEmail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		for _, email := range []string{"@", "a@", "@example.com", "a@@example.com", "Alice <a@example.com>", "a@exa mple.com"} {
			st, m, _ := f.req(t, "POST", "/users", &f.admin,
				`{"umaAddress":"$bob@vasp.example","platformUserId":"p","userType":"INDIVIDUAL","email":"`+email+`"}`)
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		id := f.create(t, userAliceJSON)
		st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"email":"a@"}`)
		wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"email":"alice.b+uma@mail.example.com"}`)
		if st != http.StatusOK || m["email"] != "alice.b+uma@mail.example.com" {
			t.Fatalf("patch email: %d %v", st, m)
		}
		if _, err := db.ExecContext(context.Background(), `UPDATE users SET profile = $1 WHERE id = $2`,
			`{"fullName":"Alice","email":"a@"}`, id); err != nil {
			t.Fatal(err)
		}
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"PENDING"}`)
		if st != http.StatusOK || m["kycStatus"] != "PENDING" || m["email"] != "a@" {
			t.Fatalf("edit of a user with an old e-mail: %d %v", st, m)
		}
	})
}
