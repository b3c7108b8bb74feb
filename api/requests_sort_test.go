package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// listIDs walks path's pages (limit 2) with query, returning the ids in
// the order listed.
func listIDs(t *testing.T, f *payFixture, path, query string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 10 {
		q := path + "?limit=2" + query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		status, raw, _ := f.call(t, "GET", q, &f.viewer, "")
		var page struct {
			Data       []struct{ ID string }
			HasMore    bool
			NextCursor string
		}
		if err := json.Unmarshal(raw, &page); status != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", q, status, raw)
		}
		for _, x := range page.Data {
			ids = append(ids, x.ID)
		}
		if !page.HasMore {
			return ids
		}
		cursor = page.NextCursor
	}
	t.Fatalf("%s%s: more than 10 pages", path, query)
	return nil
}

// GET /payment-requests and GET /uma-requests take sortOrder as every
// list does (UMAaaS's listTransactions: desc, newest first, the default,
// or asc), across pages, and refuse another value with 400: they ignored
// it, listing newest first whatever was asked.
func TestRequestListsSortOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		var made []string // oldest first
		for i := range 3 {
			body := fmt.Sprintf(`{"userId":"%s","amount":%d,"currency":"EUR"}`, f.bob.UserID, 1000+i)
			status, raw, m := f.call(t, "POST", "/payment-requests", &f.admin, body)
			if status != http.StatusCreated {
				t.Fatalf("create: %d %s", status, raw)
			}
			made = append(made, m["id"].(string))
		}
		domain, k := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		for range 3 {
			_, _, body := umaRequest(t, f, domain, k.Signing, func(inv *uma.Invoice) { inv.InvoiceUUID = uuid.NewString() })
			if status, raw, _ := f.call(t, "POST", "/api/uma/request_pay", nil, body); status != http.StatusOK {
				t.Fatalf("UMA request: %d %s", status, raw)
			}
		}
		received := listIDs(t, f, "/uma-requests", "")
		if len(received) != 3 {
			t.Fatalf("UMA requests %v", received)
		}
		newestMade := slices.Clone(made)
		slices.Reverse(newestMade)
		oldestReceived := slices.Clone(received)
		slices.Reverse(oldestReceived)
		for _, c := range []struct {
			path           string
			newest, oldest []string
		}{{"/payment-requests", newestMade, made}, {"/uma-requests", received, oldestReceived}} {
			for query, want := range map[string][]string{"": c.newest, "&sortOrder=desc": c.newest, "&sortOrder=asc": c.oldest} {
				if got := listIDs(t, f, c.path, query); !slices.Equal(got, want) {
					t.Errorf("%s%s lists %v, want %v", c.path, query, got, want)
				}
			}
			status, raw, _ := f.call(t, "GET", c.path+"?sortOrder=up", &f.viewer, "")
			wantAPIError(t, status, raw, 400, "INVALID_INPUT")
		}
	})
}
