package api_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestAuditNamesCreatedResource: an audited request that creates
// something (its route names no resource) has the id of what it created
// as its event's resourceId, recorded with its outcome, so that the trail
// says which token created which token, user, bulk upload, webhook
// endpoint, replay, ledger transfer or sandbox transaction (sent or
// received), and
// ?resourceId= finds the event that created it. A refused create names
// nothing; a route with a path parameter keeps it as its resource.
func TestAuditNamesCreatedResource(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		rc := newWebhookReceiver(t)
		start := time.Now().UTC().Add(-time.Minute)
		type create struct {
			s  sent
			id string // the created resource's id, as answered
		}
		var creates []create
		do := func(method, path, body, idField string, status int, headers ...string) string {
			t.Helper()
			s := a.send(t, method, path, &a.admin, body, headers...)
			if s.status != status {
				t.Fatalf("%s %s: %d %v, want %d", method, path, s.status, s.body, status)
			}
			id, _ := s.body[idField].(string)
			if id == "" {
				t.Fatalf("%s %s: no %s in %v", method, path, idField, s.body)
			}
			creates = append(creates, create{s, id})
			return id
		}
		do("POST", "/tokens", `{"name":"ops","permissions":["VIEW"]}`, "clientId", 201)
		// Before any webhook endpoint: approved without asking.
		do("POST", "/sandbox/receive", `{"senderUmaAddress":"$success.eur@`+vasp.SandboxDomain+`","receiverUmaAddress":"$bob@`+a.domain+
			`","receivingCurrencyCode":"EUR","receivingCurrencyAmount":250}`, "id", 200)
		uid := do("POST", "/users", strings.ReplaceAll(auditUserJSON, "DOMAIN", a.domain), "id", 201, "Idempotency-Key", "user-dave")
		do("POST", "/users/bulk/csv", "umaAddress,platformUserId,userType\n$erin,p-erin,INDIVIDUAL\n", "jobId", 202, "Content-Type", "text/csv")
		ep := do("POST", "/webhooks/endpoints", `{"url":"`+rc.URL+`"}`, "id", 201)
		do("POST", "/webhooks/replays", `{"endpointId":"`+ep+`","since":"`+start.Format(time.RFC3339)+
			`","until":"`+time.Now().UTC().Add(time.Minute).Format(time.RFC3339)+`"}`, "id", 202)
		a.overpayBob(t, 5_000_000, 6_000_000)
		do("POST", "/ledger/transfers", `{"from":"system:overpaid","to":"system:fees","currencyCode":"BTC","amount":1000,"reference":"kept"}`,
			"id", 201, "Idempotency-Key", "keep-1")
		q := a.quote(t, 100)
		_, _, quote := a.call(t, "GET", "/quotes/"+q, &a.admin, "")
		do("POST", "/sandbox/send", sandboxSendBody(q, "USD", int64(quote["totalSendingAmount"].(float64))), "id", 200)

		for _, c := range creates {
			evs := a.events(t, "resourceId="+url.QueryEscape(c.id))
			if len(evs) != 1 || evs[0]["requestId"] != c.s.id || evs[0]["resourceId"] != c.id {
				t.Errorf("%s %s created %s: its events %v", c.s.method, c.s.path, c.id, evs)
			}
		}
		// A refused create names nothing.
		refused := a.send(t, "POST", "/tokens", &a.admin, `{"name":"","permissions":["VIEW"]}`)
		// A path's resource is the event's, not what the request created.
		dep := a.send(t, "POST", "/users/"+uid+"/deposits", &a.admin, `{"currencyCode":"USD","amount":100}`, "Idempotency-Key", "dep-1")
		if refused.status != 400 || dep.status != 201 {
			t.Fatalf("refused %d, deposit %d %v", refused.status, dep.status, dep.body)
		}
		for _, e := range a.events(t, "route="+url.QueryEscape("POST /tokens")) {
			if e["requestId"] == refused.id && e["resourceId"] != nil {
				t.Errorf("a refused create names %v", e["resourceId"])
			}
		}
		for _, e := range a.events(t, "route="+url.QueryEscape("POST /users/{userId}/deposits")) {
			if e["requestId"] == dep.id && (e["resourceId"] != uid || e["idempotencyKey"] != "dep-1") {
				t.Errorf("a deposit's event names %v, key %v, want its user %s, dep-1", e["resourceId"], e["idempotencyKey"], uid)
			}
		}
		// ... which with its key names the movement made (README).
		if dep.body["id"] != "deposit/"+uid+"/dep-1" {
			t.Errorf("the deposit is %v, want deposit/%s/dep-1", dep.body["id"], uid)
		}
	})
}

// TestAuditNamesCreatedWebhooks: PATCH /config that creates the primary
// webhook endpoint (answering its secret) names it, and POST
// /webhooks/test names the delivery it made and sent (listed by GET
// /webhooks/deliveries), as every other audited create names what it
// created; neither route names a resource of its own, and both events
// named nothing. A PATCH /config that creates nothing (the URL it has)
// names nothing.
func TestAuditNamesCreatedWebhooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		rc := newWebhookReceiver(t)
		resourceOf := func(s sent) any { t.Helper(); return a.eventOf(t, s)["resourceId"] }
		cfg := `{"webhookEndpoint":"` + rc.URL + `/primary"}`
		created := a.send(t, "PATCH", "/config", &a.admin, cfg)
		if created.status != 200 || created.body["webhookSecret"] == nil {
			t.Fatalf("PATCH /config: %d %v", created.status, created.body)
		}
		if got := resourceOf(created); got != created.body["webhookEndpointId"] {
			t.Errorf("PATCH /config created %v: its event names %v", created.body["webhookEndpointId"], got)
		}
		if same := a.send(t, "PATCH", "/config", &a.admin, cfg); same.status != 200 || resourceOf(same) != nil {
			t.Errorf("PATCH /config of the URL it has: %d, its event names %v", same.status, resourceOf(same))
		}

		ep := a.send(t, "POST", "/webhooks/endpoints", &a.admin, `{"url":"`+rc.URL+`/other"}`)
		if ep.status != 201 {
			t.Fatalf("POST /webhooks/endpoints: %d %v", ep.status, ep.body)
		}
		test := a.send(t, "POST", "/webhooks/test", &a.admin, `{"endpointId":"`+ep.body["id"].(string)+`"}`)
		if test.status != 200 {
			t.Fatalf("POST /webhooks/test: %d %v", test.status, test.body)
		}
		_, raw, list := a.call(t, "GET", "/webhooks/deliveries?endpointId="+url.QueryEscape(ep.body["id"].(string)), &a.admin, "")
		ds, _ := list["data"].([]any)
		if len(ds) != 1 {
			t.Fatalf("deliveries to the tested endpoint: %s", raw)
		}
		if id, got := ds[0].(map[string]any)["id"], resourceOf(test); got == nil || got != id {
			t.Errorf("POST /webhooks/test made delivery %v: its event names %v", id, got)
		}
	})
}

// eventOf is the audit event of request s (a route without path
// parameters), found by its route and request id.
func (a *auditFixture) eventOf(t *testing.T, s sent) map[string]any {
	t.Helper()
	for _, e := range a.events(t, "route="+url.QueryEscape(s.method+" /"+strings.SplitN(strings.TrimPrefix(s.path, "/"), "?", 2)[0])) {
		if e["requestId"] == s.id {
			return e
		}
	}
	t.Fatalf("%s %s: no event", s.method, s.path)
	return nil
}
