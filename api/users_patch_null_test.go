package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// PATCH /users/{id} follows JSON merge-patch for null: an optional field
// sent as null is removed (the postal address, the bank account, personal
// data, a business's businessInfo), where before null was taken as absent
// and nothing could clear them; a field every user has (umaAddress,
// platformUserId, userType, kycStatus, preferredCurrencies) refuses null
// with a 400 naming it, and the request changes nothing.
func TestUserPatchNull(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, strings.Replace(userAliceJSON, `"nationality":"FR",`, `"nationality":"FR","email":"alice@example.com",`, 1))

		st, p, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"address":null}`)
		if _, has := p["address"]; st != http.StatusOK || has || p["bankAccountInfo"] == nil || p["fullName"] != "Alice Example" {
			t.Fatalf("patch address null: %d %v", st, p)
		}
		st, g, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if _, has := g["address"]; st != http.StatusOK || has {
			t.Fatalf("get after clearing the address: %d %v", st, g)
		}

		// Keys match as encoding/json matches them, whatever their case.
		st, p, _ = f.req(t, "PATCH", "/users/"+id, &f.admin,
			`{"BankAccountInfo":null,"fullName":null,"birthDate":null,"nationality":null,"email":null,"businessInfo":null}`)
		if st != http.StatusOK || p["umaAddress"] != "$alice@vasp.example" || p["kycStatus"] != "VERIFIED" {
			t.Fatalf("patch personal data null: %d %v", st, p)
		}
		for _, k := range []string{"bankAccountInfo", "fullName", "birthDate", "nationality", "email", "address"} {
			if _, has := p[k]; has {
				t.Errorf("%s still there after null: %v", k, p)
			}
		}

		// Required: refused, naming the field; nothing changes, the
		// address set in the same request included.
		st, p, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"address":{"line1":"2 Rue Y","postalCode":"75002","country":"FR"}}`)
		if st != http.StatusOK || p["address"] == nil {
			t.Fatalf("patch address: %d %v", st, p)
		}
		for _, field := range []string{"umaAddress", "platformUserId", "userType", "kycStatus", "preferredCurrencies"} {
			st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"address":null,"`+field+`":null}`)
			wantError(t, st, m, 400, vaspd.CodeInvalidInput)
			if msg, _ := m["message"].(string); !strings.Contains(msg, field) {
				t.Errorf("null %s: message %q does not name it", field, msg)
			}
		}
		st, g, _ = f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if st != http.StatusOK || g["address"] == nil || g["platformUserId"] != "p-1" {
			t.Fatalf("a refused patch changed the user: %d %v", st, g)
		}

		// A business's businessInfo (its name with it) and address.
		bid := f.create(t, `{"umaAddress":"$acme@vasp.example","platformUserId":"p-2","userType":"BUSINESS",
			"businessInfo":{"legalName":"Acme Corp","taxId":"T1"},"address":{"line1":"1 Main St","postalCode":"94105","country":"US"}}`)
		st, b, _ := f.req(t, "PATCH", "/users/"+bid, &f.admin, `{"businessInfo":null,"address":null,"fullName":null}`)
		if _, has := b["businessInfo"]; st != http.StatusOK || has || b["address"] != nil || b["fullName"] != nil {
			t.Fatalf("patch business null: %d %v", st, b)
		}
	})
}

// TestUserPatchEmptyKYCStatus: "" is no KYC status. A PATCH sending it
// (a client that serialises an unset string) is refused as null is, not
// taken for the default of a user created without one: that silently
// turned a VERIFIED user UNKNOWN, the status counterparties are sent.
func TestUserPatchEmptyKYCStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"","fullName":"Alice Two"}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		if msg, _ := m["message"].(string); !strings.Contains(msg, "kycStatus") {
			t.Errorf("message %q does not name kycStatus", msg)
		}
		st, g, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if st != http.StatusOK || g["kycStatus"] != "VERIFIED" || g["fullName"] != "Alice Example" {
			t.Fatalf("a refused patch changed the user: %d %v", st, g)
		}
	})
}
