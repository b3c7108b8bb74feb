package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A PATCH that changes nothing, {} or the values the user has (spelt as
// they are stored or as the API normalises them), leaves updatedAt as it
// was: it moved on every PATCH, so a platform syncing on updatedAt saw a
// change where there was none.
func TestUserPatchNoChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		st, before, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if st != http.StatusOK || before["updatedAt"] == nil {
			t.Fatalf("get: %d %v", st, before)
		}
		for _, body := range []string{
			`{}`,
			`{"fullName":"Alice Example","kycStatus":"VERIFIED","preferredCurrencies":["EUR","USD"]}`,
			`{"umaAddress":"$alice@vasp.example","nationality":" fr ","platformUserId":"p-1"}`,
			`{"address":{"line1":"1 Rue X","postalCode":"75001","country":"FR"}}`,
		} {
			time.Sleep(2 * time.Millisecond) // updatedAt has microseconds: a write would move it
			st, p, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, body)
			if st != http.StatusOK || p["updatedAt"] != before["updatedAt"] || p["fullName"] != "Alice Example" {
				t.Errorf("PATCH %s: %d updatedAt %v, was %v", body, st, p["updatedAt"], before["updatedAt"])
			}
		}
		st, after, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if st != http.StatusOK || after["updatedAt"] != before["updatedAt"] {
			t.Fatalf("updatedAt moved: %v, was %v", after["updatedAt"], before["updatedAt"])
		}
		// A change still moves it.
		time.Sleep(2 * time.Millisecond)
		st, p, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"PENDING"}`)
		if st != http.StatusOK || p["updatedAt"] == before["updatedAt"] || p["kycStatus"] != "PENDING" {
			t.Fatalf("a change: %d %v", st, p)
		}
	})
}
