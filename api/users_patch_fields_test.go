package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// wantField checks a 400 INVALID_INPUT whose details name field, as
// docs/users.md promises for the fields every user has.
func wantField(t *testing.T, st int, m map[string]any, field string) {
	t.Helper()
	wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
	d, _ := m["details"].(map[string]any)
	if d["field"] != field {
		t.Errorf("details %v do not name %s: %v", m["details"], field, m)
	}
	if msg, _ := m["message"].(string); !strings.Contains(msg, field) {
		t.Errorf("message %q does not name %s", msg, field)
	}
}

// TestUserPatchEmptyKYCStatusNamesField: kycStatus "" is refused as null
// is, and like null names the field in details.field, which docs/users.md
// lists it with; it used to come without details.
func TestUserPatchEmptyKYCStatusNamesField(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":""}`)
		wantField(t, st, m, "kycStatus")
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":null}`)
		wantField(t, st, m, "kycStatus")
	})
}

// TestUserPatchEmptyPreferredCurrencies: [] is no currency. A PATCH
// sending it silently replaced a EUR user's currencies by the rates
// file's first (USD), the currency their payments are then priced in,
// where null is refused: it is refused alike, changing nothing.
func TestUserPatchEmptyPreferredCurrencies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"preferredCurrencies":[],"fullName":"Alice Two"}`)
		wantField(t, st, m, "preferredCurrencies")
		st, g, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if pc, _ := g["preferredCurrencies"].([]any); st != http.StatusOK || len(pc) != 2 || pc[0] != "EUR" || g["fullName"] != "Alice Example" {
			t.Fatalf("a refused patch changed the user: %d %v", st, g)
		}
	})
}

// TestUserPatchUnknownUserType: a userType that is none of UMAaaS's enum
// (INDIVIDUAL, BUSINESS; upper case, as POST /users insists) is refused
// naming the values allowed, as POST /users does; it was refused as
// "cannot change", even "individual" for an INDIVIDUAL user, which sent
// the platform looking for a change it did not ask for.
func TestUserPatchUnknownUserType(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		for _, v := range []string{"individual", "Individual", "PERSON", ""} {
			st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"userType":"`+v+`"}`)
			wantField(t, st, m, "userType")
			if msg, _ := m["message"].(string); !strings.Contains(msg, "INDIVIDUAL or BUSINESS") || strings.Contains(msg, "change") {
				t.Errorf("userType %q: message %q", v, msg)
			}
		}
		st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"userType":"BUSINESS"}`)
		wantField(t, st, m, "userType")
		if msg, _ := m["message"].(string); !strings.Contains(msg, "cannot change") {
			t.Errorf("userType BUSINESS: message %q", msg)
		}
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"userType":"INDIVIDUAL","fullName":"Alice Two"}`)
		if st != http.StatusOK || m["fullName"] != "Alice Two" {
			t.Fatalf("userType unchanged: %d %v", st, m)
		}
	})
}

// TestUserPatchNullBody: a PATCH body of null is no JSON object. It was
// answered 200 as if it were {}, the user's updatedAt moved, where a
// merge patch of null (RFC 7396) would replace the whole user: refused
// as [] is, changing nothing.
func TestUserPatchNullBody(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		_, before, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		for _, body := range []string{`null`, ` null `, `[]`} {
			st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, body)
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
			if msg, _ := m["message"].(string); !strings.Contains(msg, "JSON object") {
				t.Errorf("body %q: message %q", body, msg)
			}
		}
		if _, after, _ := f.req(t, "GET", "/users/"+id, &f.viewer, ""); after["updatedAt"] != before["updatedAt"] {
			t.Errorf("a refused patch touched the user: %v, was %v", after["updatedAt"], before["updatedAt"])
		}
	})
}

// TestUserPatchDeletedUserType: a PATCH of a deleted user is 410 GONE,
// whatever it asks: one naming another userType was 400 "cannot change",
// hiding that no change of any kind is possible.
func TestUserPatchDeletedUserType(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		if st, m, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, ""); st != http.StatusOK {
			t.Fatalf("delete: %d %v", st, m)
		}
		for _, body := range []string{`{"userType":"BUSINESS"}`, `{"userType":"INDIVIDUAL"}`, `{"fullName":"X"}`} {
			st, m, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, body)
			wantError(t, st, m, http.StatusGone, vaspd.CodeGone)
		}
	})
}
