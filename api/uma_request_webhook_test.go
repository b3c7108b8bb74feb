package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/webhook"
)

// TestUmaRequestWebhookParses cross-checks producer and consumer of
// UMA_REQUEST, vaspd's own webhook: the body vaspd enqueues (the exact bytes
// it signs and sends) when another VASP posts an UMA request to
// /api/uma/request_pay decodes, with the webhook package platforms import,
// into a *webhook.UmaRequestWebhook whose every field is set and equal to
// what was sent; the body ends with the envelope, like every webhook's; the
// typed event encodes back to the same JSON (no field of the body is left
// unmodelled); its umaRequest is exactly what GET /uma-requests/{id}
// answers, less the status GET derives (PENDING at receipt); and a webhook.Handler delivers it to the platform's code and
// acknowledges it with a bare 200.
func TestUmaRequestWebhookParses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		domain, k := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		inv, link, req := umaRequest(t, f, domain, k.Signing, func(inv *uma.Invoice) {
			inv.InvoiceUUID, inv.Amount = "0b3c1f5e-8a51-4d7e-9c1a-3f2e6d5c4b1a", 4321
			inv.ReceivingCurrency = uma.InvoiceCurrency{Code: "EUR", Name: "Euro", Symbol: "€", Decimals: 2}
		})
		before := time.Now().UTC().Truncate(time.Microsecond)
		if status, raw, _ := f.call(t, "POST", "/api/uma/request_pay", nil, req); status != 200 {
			t.Fatalf("UMA request: %d %s", status, raw)
		}
		after := time.Now().UTC()

		var eventID string
		var body []byte
		if err := db.QueryRowContext(t.Context(), `SELECT id, payload FROM webhook_events WHERE type = 'UMA_REQUEST'`).Scan(&eventID, &body); err != nil {
			t.Fatalf("the UMA_REQUEST webhook: %v", err)
		}
		ev, err := webhook.Parse(body)
		if err != nil {
			t.Fatalf("Parse(%s): %v", body, err)
		}
		got, ok := ev.(*webhook.UmaRequestWebhook)
		if !ok {
			t.Fatalf("Parse gave %T, want *webhook.UmaRequestWebhook; body %s", ev, body)
		}

		// Every field, envelope included, is set: a field added to the
		// webhook type that vaspd does not send fails here.
		var unset func(path string, v reflect.Value)
		unset = func(path string, v reflect.Value) {
			if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
				for i := range v.NumField() {
					unset(path+"."+v.Type().Field(i).Name, v.Field(i))
				}
				return
			}
			if v.IsZero() {
				t.Errorf("%s is not set; body %s", path, body)
			}
		}
		unset("UmaRequestWebhook", reflect.ValueOf(*got))

		r := got.UmaRequest
		if got.Type != webhook.TypeUmaRequest || got.WebhookID != eventID {
			t.Errorf("envelope %+v, want type UMA_REQUEST and webhookId %s", got.BaseWebhook, eventID)
		}
		if !strings.HasPrefix(r.ID, "UmaRequest:") || r.UserID != f.alice.UserID || got.PlatformUserID != f.alice.PlatformUserID {
			t.Errorf("id %q, user %q / %q; want an UmaRequest id for %s / %s", r.ID, r.UserID, got.PlatformUserID, f.alice.UserID, f.alice.PlatformUserID)
		}
		if r.ReceiverUmaAddress != inv.ReceiverUMA || r.InvoiceUUID != inv.InvoiceUUID || r.Invoice != strings.TrimPrefix(link, "uma://") ||
			r.Amount != inv.Amount || r.Currency != inv.ReceivingCurrency.Code {
			t.Errorf("umaRequest %+v; sent invoice %+v (%s)", r, inv, link)
		}
		if !r.ExpiresAt.Equal(time.Unix(inv.Expiration, 0)) {
			t.Errorf("expiresAt %v, want %v", r.ExpiresAt, time.Unix(inv.Expiration, 0).UTC())
		}
		if !r.CreatedAt.Equal(got.Timestamp) || r.CreatedAt.Before(before) || r.CreatedAt.After(after) {
			t.Errorf("createdAt %v, timestamp %v; want one instant in [%v, %v]", r.CreatedAt, got.Timestamp, before, after)
		}

		// Like every webhook, the body ends with the envelope
		// (docs/webhooks.md: the type-specific fields, then the envelope).
		if end := `,"timestamp":"` + got.Timestamp.Format(time.RFC3339Nano) + `","webhookId":"` + eventID + `","type":"UMA_REQUEST"}`; !bytes.HasSuffix(body, []byte(end)) {
			t.Errorf("body %s\ndoes not end with the envelope %s", body, end)
		}

		// Nothing in the body is left out of the typed event.
		again, err := webhook.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := jsonValue(t, body), jsonValue(t, again); !reflect.DeepEqual(a, b) {
			t.Errorf("the typed event re-encodes differently:\nsent %s\ngot  %s", body, again)
		}

		// The webhook's umaRequest is what the platform API answers for it,
		// less the state GET adds (status, transactionId), which the
		// webhook, sent at receipt, does not carry: there it is PENDING,
		// with no transaction.
		status, getRaw, _ := f.call(t, "GET", "/uma-requests/"+r.ID, &f.viewer, "")
		if status != 200 {
			t.Fatalf("GET /uma-requests/%s: %d %s", r.ID, status, getRaw)
		}
		var sent struct {
			UmaRequest json.RawMessage `json:"umaRequest"`
		}
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatal(err)
		}
		read, _ := jsonValue(t, getRaw).(map[string]any)
		if read["status"] != "PENDING" {
			t.Errorf("GET /uma-requests/%s: %s, want status PENDING", r.ID, getRaw)
		}
		if _, ok := read["transactionId"]; ok {
			t.Errorf("GET /uma-requests/%s: %s, want no transactionId", r.ID, getRaw)
		}
		delete(read, "status")
		if a := jsonValue(t, sent.UmaRequest); !reflect.DeepEqual(a, read) {
			t.Errorf("webhook umaRequest and GET /uma-requests/{id} differ:\nwebhook %s\nGET     %s", sent.UmaRequest, getRaw)
		}

		// A platform's webhook.Handler hands it to its code as the typed
		// event and acknowledges it with a bare 200.
		secret, err := webhook.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		verifier, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		var handled webhook.Event
		h, err := webhook.NewHandler(webhook.HandlerConfig{Verifier: verifier,
			Handler: webhook.EventHandlerFunc(func(_ context.Context, ev webhook.Event) (webhook.Reply, error) {
				handled = ev
				return webhook.OK(), nil
			})})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := webhook.Sign(webhook.Keys{Secrets: []string{secret}}, eventID, time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		hreq := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
		hreq.Header = hdr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, hreq)
		if rec.Code != 200 || rec.Body.Len() != 0 || !reflect.DeepEqual(handled, ev) {
			t.Errorf("handler: %d %q, handed %#v; want 200, no body, %#v", rec.Code, rec.Body, handled, ev)
		}
	})
}

// jsonValue decodes b with numbers kept as text, for comparing JSON values
// regardless of key order.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}
