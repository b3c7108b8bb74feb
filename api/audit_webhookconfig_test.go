package api_test

import (
	"net/url"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestAuditNamesWebhookChanges: PATCH /config that re-points the primary
// webhook endpoint, or deletes it, names that endpoint as its event's
// resourceId (its route names none; nothing was created, so no createdId);
// and POST /webhooks/test that the receiver refused (400
// WEBHOOK_DELIVERY_ERROR) names the delivery it made all the same, as its
// createdId: the delivery is listed, failed. Both events named nothing.
func TestAuditNamesWebhookChanges(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		rc := newWebhookReceiver(t)
		eventOf := func(s sent) map[string]any { t.Helper(); return a.eventOf(t, s) }
		createdOf := func(e map[string]any) any {
			o, _ := e["outcome"].(map[string]any)
			return o["createdId"]
		}
		created := a.send(t, "PATCH", "/config", &a.admin, `{"webhookEndpoint":"`+rc.URL+`/primary"}`)
		if created.status != 200 || created.body["webhookEndpointId"] == nil {
			t.Fatalf("PATCH /config: %d %v", created.status, created.body)
		}
		primary := created.body["webhookEndpointId"].(string)

		moved := a.send(t, "PATCH", "/config", &a.admin, `{"webhookEndpoint":"`+rc.URL+`/moved"}`)
		if moved.status != 200 || moved.body["webhookEndpointId"] != primary {
			t.Fatalf("PATCH /config re-pointing: %d %v", moved.status, moved.body)
		}
		if e := eventOf(moved); e["resourceId"] != primary || createdOf(e) != nil {
			t.Errorf("PATCH /config re-pointed %s: its event names %v, createdId %v; want it, none", primary, e["resourceId"], createdOf(e))
		}
		deleted := a.send(t, "PATCH", "/config", &a.admin, `{"webhookEndpoint":null}`)
		if deleted.status != 200 || deleted.body["webhookEndpointId"] != nil {
			t.Fatalf("PATCH /config deleting: %d %v", deleted.status, deleted.body)
		}
		if e := eventOf(deleted); e["resourceId"] != primary || createdOf(e) != nil {
			t.Errorf("PATCH /config deleted %s: its event names %v, createdId %v; want it, none", primary, e["resourceId"], createdOf(e))
		}
		// Deleting what is not there changes nothing, and names nothing.
		if again := a.send(t, "PATCH", "/config", &a.admin, `{"webhookEndpoint":""}`); again.status != 200 || eventOf(again)["resourceId"] != nil {
			t.Errorf("PATCH /config deleting no endpoint: %d, its event names %v", again.status, eventOf(again)["resourceId"])
		}
		// ?resourceId= finds the endpoint's whole story.
		if evs := a.events(t, "resourceId="+url.QueryEscape(primary)+"&route="+url.QueryEscape("PATCH /config")); len(evs) != 3 {
			t.Errorf("PATCH /config events naming %s: %d, want 3 (created, re-pointed, deleted)", primary, len(evs))
		}

		ep := a.send(t, "POST", "/webhooks/endpoints", &a.admin, `{"url":"`+rc.URL+`/other"}`)
		if ep.status != 201 {
			t.Fatalf("POST /webhooks/endpoints: %d %v", ep.status, ep.body)
		}
		rc.status.Store(500)
		test := a.send(t, "POST", "/webhooks/test", &a.admin, `{"endpointId":"`+ep.body["id"].(string)+`"}`)
		if test.status != 400 {
			t.Fatalf("POST /webhooks/test to a refusing receiver: %d %v", test.status, test.body)
		}
		_, raw, list := a.call(t, "GET", "/webhooks/deliveries?endpointId="+url.QueryEscape(ep.body["id"].(string)), &a.admin, "")
		ds, _ := list["data"].([]any)
		if len(ds) != 1 {
			t.Fatalf("deliveries to the tested endpoint: %s", raw)
		}
		id := ds[0].(map[string]any)["id"]
		if e := eventOf(test); e["resourceId"] != id || createdOf(e) != id {
			t.Errorf("POST /webhooks/test refused made delivery %v: its event names %v, createdId %v", id, e["resourceId"], createdOf(e))
		}
	})
}
