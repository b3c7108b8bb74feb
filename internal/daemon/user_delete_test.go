package daemon

import (
	"net/http"
	"path/filepath"
	"testing"
)

// TestDeleteUserRunsPaymentsCheck: the daemon's users run the payments'
// delete check (vasp.Service.BeforeUserDelete): deleting a user cancels
// their payment request still payable.
func TestDeleteUserRunsPaymentsCheck(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	id, secret := credential(t, r.out.String())
	st, user := do(t, "POST", r.url+"/users", id, secret, `{"umaAddress":"$zelda","platformUserId":"p-1","userType":"INDIVIDUAL",
		"fullName":"Zelda","birthDate":"1990-01-15","nationality":"FR","kycStatus":"VERIFIED","preferredCurrencies":["USD"],
		"address":{"line1":"1 Rue X","postalCode":"75001","country":"FR"}}`)
	if st != http.StatusCreated {
		t.Fatalf("create user: %d %v", st, user)
	}
	uid := user["id"].(string)
	st, pr := do(t, "POST", r.url+"/payment-requests", id, secret, `{"userId":"`+uid+`","amount":1000,"currency":"USD"}`)
	if st != http.StatusCreated {
		t.Fatalf("create payment request: %d %v", st, pr)
	}
	if st, m := do(t, "DELETE", r.url+"/users/"+uid, id, secret, ""); st != http.StatusOK {
		t.Fatalf("delete user: %d %v", st, m)
	}
	if st, m := do(t, "GET", r.url+"/payment-requests/"+pr["id"].(string), id, secret, ""); st != http.StatusOK || m["status"] != "CANCELLED" {
		t.Fatalf("the deleted user's payment request: %d %v, want CANCELLED", st, m)
	}
}
