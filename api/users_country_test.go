package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestUsersCountryCodes: nationality and address.country are ISO 3166-1
// alpha-2 codes (UMAaaS's IndividualUser and Address say so); two capital
// letters nobody assigned (XX, QQ, ZZ) were accepted, and would be sent to
// counterparties as the user's nationality. A code stored before the check
// does not block the user's other edits, as with currencies and birth dates.
func TestUsersCountryCodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		for _, body := range []string{
			`{"umaAddress":"$bob@vasp.example","platformUserId":"p","userType":"INDIVIDUAL","nationality":"XX"}`,
			`{"umaAddress":"$bob@vasp.example","platformUserId":"p","userType":"INDIVIDUAL","nationality":"uk"}`,
			`{"umaAddress":"$bob@vasp.example","platformUserId":"p","userType":"INDIVIDUAL",
				"address":{"line1":"1 Main St","postalCode":"1","country":"ZZ"}}`,
		} {
			st, m, _ := f.req(t, "POST", "/users", &f.admin, body)
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		id := f.create(t, userAliceJSON)
		for _, body := range []string{`{"nationality":"QQ"}`, `{"address":{"line1":"x","postalCode":"1","country":"AA"}}`} {
			st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, body)
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		// Real codes, Kosovo's XK among them, in any case.
		st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"nationality":"xk","address":{"line1":"x","postalCode":"1","country":"gb"}}`)
		if st != http.StatusOK || m["nationality"] != "XK" || m["address"].(map[string]any)["country"] != "GB" {
			t.Fatalf("patch real codes: %d %v", st, m)
		}
		// Surrounding spaces go, as address.country's always did.
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"nationality":" de ","address":{"line1":"x","postalCode":"1","country":" at "}}`)
		if st != http.StatusOK || m["nationality"] != "DE" || m["address"].(map[string]any)["country"] != "AT" {
			t.Fatalf("patch codes with spaces: %d %v", st, m)
		}
		// Stored before the check: other edits still go through.
		if _, err := db.ExecContext(context.Background(), `UPDATE users SET profile = $1 WHERE id = $2`,
			`{"fullName":"Alice","nationality":"XX","address":{"line1":"x","postalCode":"1","country":"ZZ"}}`, id); err != nil {
			t.Fatal(err)
		}
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"PENDING"}`)
		if st != http.StatusOK || m["kycStatus"] != "PENDING" || m["nationality"] != "XX" {
			t.Fatalf("edit of a user with an old code: %d %v", st, m)
		}
	})
}
