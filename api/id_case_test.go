package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Ids are "<Type>:<uuid>", and a UUID's hex is case-insensitive (RFC 9562):
// one written in upper case names the same user, token, etc. vaspd issues
// and stores them in lower case, so an id in the path, query or body is
// read in lower case; before, "User:01A2…" was a 404 for a user that exists.
func TestIDHexCaseInsensitive(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		typ, hex, _ := strings.Cut(id, ":")
		upper := typ + ":" + strings.ToUpper(hex)

		st, g, _ := f.req(t, "GET", "/users/"+upper, &f.viewer, "")
		if st != http.StatusOK || g["id"] != id {
			t.Fatalf("GET upper-case id: %d %v", st, g)
		}
		st, p, _ := f.req(t, "PATCH", "/users/"+upper, &f.admin, `{"fullName":"Alice B"}`)
		if st != http.StatusOK || p["id"] != id || p["fullName"] != "Alice B" {
			t.Fatalf("PATCH upper-case id: %d %v", st, p)
		}
		st, b, _ := f.req(t, "GET", "/users/"+upper+"/balances", &f.viewer, "")
		if st != http.StatusOK {
			t.Fatalf("balances upper-case id: %d %v", st, b)
		}
		ttyp, thex, _ := strings.Cut(f.viewer.ClientID, ":")
		st, tk, _ := f.req(t, "GET", "/tokens/"+ttyp+":"+strings.ToUpper(thex), &f.admin, "")
		if st != http.StatusOK || tk["id"] != f.viewer.ClientID {
			t.Fatalf("GET token upper-case id: %d %v", st, tk)
		}
		// The type stays as issued: "user:" is not a User id.
		st, _, _ = f.req(t, "GET", "/users/user:"+hex, &f.viewer, "")
		if st != http.StatusNotFound {
			t.Fatalf("lower-case type: %d, want 404", st)
		}
		st, d, _ := f.req(t, "DELETE", "/users/"+upper, &f.admin, "")
		if st != http.StatusOK && st != http.StatusNoContent {
			t.Fatalf("DELETE upper-case id: %d %v", st, d)
		}
	})
}

// upperHex writes id's UUID in upper case, its type as it is.
func upperHex(id string) string {
	typ, hex, _ := strings.Cut(id, ":")
	return typ + ":" + strings.ToUpper(hex)
}

// The same for ids in a body and a query, and for a payment request's
// cancel, which wrote by the id as sent: none was cancelled, and the
// request answered 409 for a pending one.
func TestIDHexCaseInsensitivePaymentRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		body := `{"userId":"` + upperHex(f.bob.UserID) + `","amount":1000,"currency":"EUR"}`
		status, raw, m := f.call(t, "POST", "/payment-requests", &f.admin, body)
		if status != 201 || m["userId"] != f.bob.UserID {
			t.Fatalf("create with an upper-case userId: %d %s", status, raw)
		}
		id, _ := m["id"].(string)
		status, raw, m = f.call(t, "GET", "/payment-requests?userId="+upperHex(f.bob.UserID), &f.viewer, "")
		if data, _ := m["data"].([]any); status != 200 || len(data) != 1 {
			t.Fatalf("list by upper-case userId: %d %s", status, raw)
		}
		if status, raw, m = f.call(t, "GET", "/payment-requests/"+upperHex(id), &f.viewer, ""); status != 200 || m["id"] != id {
			t.Fatalf("get upper-case id: %d %s", status, raw)
		}
		status, raw, m = f.call(t, "POST", "/payment-requests/"+upperHex(id)+"/cancel", &f.admin, "")
		if status != 200 || m["status"] != "CANCELLED" {
			t.Fatalf("cancel upper-case id: %d %s", status, raw)
		}
	})
}

// The audit trail names the resource as stored, whatever the case of the
// id in the path: a PATCH of "User:01A2…" was recorded under that spelling,
// and ?resourceId= with the user's id (as vaspd answers it) missed it.
func TestAuditResourceIDHexCase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		if st, p, _ := f.req(t, "PATCH", "/users/"+upperHex(id), &f.admin, `{"kycStatus":"PENDING"}`); st != http.StatusOK {
			t.Fatalf("PATCH: %d %v", st, p)
		}
		for _, q := range []string{id, upperHex(id)} {
			st, m, _ := f.req(t, "GET", "/audit-events?route=PATCH+/users/%7BuserId%7D&resourceId="+q, &f.admin, "")
			data, _ := m["data"].([]any)
			if st != http.StatusOK || len(data) != 1 {
				t.Fatalf("audit events of %s: %d %v", q, st, m)
			}
			if got := data[0].(map[string]any)["resourceId"]; got != id {
				t.Errorf("resourceId %v, want %s", got, id)
			}
		}
	})
}
