package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestAuditNamesDepositMovement: a deposit's or withdrawal's event names
// its user (the path's resource) and, in its outcome, the ledger movement
// it made as createdId, so that a movement keyed by its reference alone
// (no Idempotency-Key, nothing else in the event naming it) is traced from
// its event. A replay says so and names the same movement; a refused one
// names none. The event named the user only: the movement was nowhere.
func TestAuditNamesDepositMovement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		uid, _ := a.send(t, "POST", "/users", &a.admin, strings.ReplaceAll(auditUserJSON, "DOMAIN", a.domain)).body["id"].(string)
		if uid == "" {
			t.Fatal("no user")
		}
		outcomeOf := func(s sent, route string) map[string]any {
			t.Helper()
			for _, e := range a.events(t, "route="+url.QueryEscape(route)) {
				if e["requestId"] == s.id {
					if e["resourceId"] != uid {
						t.Errorf("%s %s: its event names %v, want its user %s", s.method, s.path, e["resourceId"], uid)
					}
					o, _ := e["outcome"].(map[string]any)
					if o == nil {
						t.Fatalf("%s %s: no outcome in %v", s.method, s.path, e)
					}
					return o
				}
			}
			t.Fatalf("%s %s: no event", s.method, s.path)
			return nil
		}
		for _, c := range []struct {
			kind, body string
			headers    []string
		}{
			{"deposits", `{"currencyCode":"USD","amount":500,"reference":"wire-2026-0042"}`, nil},
			{"withdrawals", `{"currencyCode":"USD","amount":200,"reference":"payout-7"}`, []string{"Idempotency-Key", "wd-1"}},
		} {
			path, route := "/users/"+uid+"/"+c.kind, "POST /users/{userId}/"+c.kind
			first := a.send(t, "POST", path, &a.admin, c.body, c.headers...)
			again := a.send(t, "POST", path, &a.admin, c.body, c.headers...)
			mid, _ := first.body["id"].(string)
			if first.status != 201 || mid == "" || again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" || again.body["id"] != mid {
				t.Fatalf("%s: %d %v, then %d %v", path, first.status, first.body, again.status, again.body)
			}
			if o := outcomeOf(first, route); o["createdId"] != mid || o["replayed"] != false {
				t.Errorf("%s made %s: its outcome %v", path, mid, o)
			}
			if o := outcomeOf(again, route); o["createdId"] != mid || o["replayed"] != true {
				t.Errorf("%s replayed %s: its outcome %v", path, mid, o)
			}
			// ?createdId= finds the two events naming the movement, and no other.
			if evs := a.events(t, "createdId="+url.QueryEscape(mid)+"&limit=1"); len(evs) != 2 ||
				evs[0]["requestId"] != again.id || evs[1]["requestId"] != first.id {
				t.Errorf("?createdId=%s: %d events %v, want the replay's and the first's", mid, len(evs), evs)
			}
			bad := a.send(t, "POST", path, &a.admin, `{"currencyCode":"USD","amount":0,"reference":"r"}`)
			if o := outcomeOf(bad, route); bad.status != 400 || o["createdId"] != nil {
				t.Errorf("%s refused (%d): its outcome %v", path, bad.status, o)
			}
		}
	})
}
