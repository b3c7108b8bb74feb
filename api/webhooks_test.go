package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// webhookReceiver is a loopback receiver answering with a settable status.
type webhookReceiver struct {
	*httptest.Server
	status atomic.Int64
	mu     sync.Mutex
	types  []string
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	rc := &webhookReceiver{}
	rc.status.Store(200)
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.types = append(rc.types, string(b))
		rc.mu.Unlock()
		w.WriteHeader(int(rc.status.Load()))
		_, _ = w.Write([]byte("pong"))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *webhookReceiver) bodies() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.types...)
}

func newWebhookFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	svc, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return newFixture(t, db, func(s *api.Server) { s.MountWebhooks(svc) })
}

const jsonCT = "application/json"

func TestWebhookEndpointsCRUD(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newWebhookFixture(t, db)
		rc := newWebhookReceiver(t)

		st, body := f.do(t, "POST", "/webhooks/endpoints", &f.viewer, jsonCT, `{"url":"`+rc.URL+`"}`)
		wantError(t, st, body, 403, "FORBIDDEN")
		st, body = f.do(t, "POST", "/webhooks/endpoints", nil, jsonCT, `{"url":"`+rc.URL+`"}`)
		wantError(t, st, body, 401, "UNAUTHORIZED")
		for _, bad := range []string{
			`{"url":"http://10.0.0.1/hook"}`, `{"url":"ftp://x/"}`, `{}`, `{"url":"` + rc.URL + `","admin":true}`,
			`{"url":"` + rc.URL + `","eventTypes":["no such type"]}`, `{"url":"` + rc.URL + `","timeoutMs":-1}`,
			`{"url":"` + rc.URL + `","timeoutMs":1}`, `{"url":"` + rc.URL + `","timeoutMs":999}`, `{"url":"` + rc.URL + `","timeoutMs":60001}`,
			// PostgreSQL cannot store a NUL in text: a 400, not a 500.
			`{"url":"` + rc.URL + `","description":"a\u0000b"}`, `{"url":"` + rc.URL + `","description":"\u001b[31mred"}`,
		} {
			st, body = f.do(t, "POST", "/webhooks/endpoints", &f.admin, jsonCT, bad)
			wantError(t, st, body, 400, "INVALID_INPUT")
		}

		var ids []string
		for i := 0; i < 3; i++ {
			st, body = f.do(t, "POST", "/webhooks/endpoints", &f.admin, jsonCT,
				`{"url":"`+rc.URL+`","description":"d","eventTypes":["OUTGOING_PAYMENT"],"timeoutMs":2000}`)
			if st != 201 || !strings.HasPrefix(body["secret"].(string), "whsec_") || body["enabled"] != true {
				t.Fatalf("create: %d %v", st, body)
			}
			ids = append(ids, body["id"].(string))
		}
		// Cursor pagination, readable with VIEW; the secret is never listed.
		seen := map[string]bool{}
		path := "/webhooks/endpoints?limit=2"
		for {
			st, body = f.do(t, "GET", path, &f.viewer, "", "")
			if st != 200 {
				t.Fatalf("list: %d %v", st, body)
			}
			for _, d := range body["data"].([]any) {
				e := d.(map[string]any)
				if _, leaked := e["secret"]; leaked {
					t.Fatal("secret in a listing")
				}
				seen[e["id"].(string)] = true
			}
			if body["hasMore"] != true {
				break
			}
			path = "/webhooks/endpoints?limit=2&cursor=" + body["nextCursor"].(string)
		}
		if len(seen) != 3 {
			t.Fatalf("listed %d endpoints", len(seen))
		}

		st, body = f.do(t, "PATCH", "/webhooks/endpoints/"+ids[0], &f.admin, jsonCT, `{"description":"new","enabled":false}`)
		if st != 200 || body["description"] != "new" || body["enabled"] != false || body["disabledReason"] == "" {
			t.Fatalf("patch: %d %v", st, body)
		}
		st, body = f.do(t, "GET", "/webhooks/endpoints/"+ids[0], &f.viewer, "", "")
		if st != 200 || body["description"] != "new" || body["timeoutMs"] != float64(2000) {
			t.Fatalf("get: %d %v", st, body)
		}
		st, body = f.do(t, "PATCH", "/webhooks/endpoints/"+ids[0], &f.viewer, jsonCT, `{"enabled":true}`)
		wantError(t, st, body, 403, "FORBIDDEN")
		st, body = f.do(t, "PATCH", "/webhooks/endpoints/"+ids[0], &f.admin, jsonCT, `{"description":"a\u0000b"}`)
		wantError(t, st, body, 400, "INVALID_INPUT")
		// timeoutMs has a floor as it has a cap (1 ms: every attempt timed out).
		st, body = f.do(t, "PATCH", "/webhooks/endpoints/"+ids[0], &f.admin, jsonCT, `{"timeoutMs":1}`)
		wantError(t, st, body, 400, "INVALID_INPUT")
		if msg, _ := body["message"].(string); !strings.Contains(msg, "1000 to 60000") {
			t.Fatalf("timeoutMs 1: %q, want the range 1000 to 60000", msg)
		}

		// Rotation: a new secret, the old one signing for the grace period.
		st, body = f.do(t, "POST", "/webhooks/endpoints/"+ids[1]+"/rotate-secret", &f.admin, "", "")
		if st != 200 || !strings.HasPrefix(body["secret"].(string), "whsec_") || body["endpoint"].(map[string]any)["previousSecretUntil"] == nil {
			t.Fatalf("rotate: %d %v", st, body)
		}
		// Again with a grace period during this one's: refused, it would
		// cut the old secret's grace short.
		st, body = f.do(t, "POST", "/webhooks/endpoints/"+ids[1]+"/rotate-secret", &f.admin, jsonCT, `{"gracePeriodSeconds":60}`)
		wantError(t, st, body, 409, "CONFLICT")
		st, body = f.do(t, "POST", "/webhooks/endpoints/"+ids[1]+"/rotate-secret", &f.admin, jsonCT, `{"gracePeriodSeconds":0}`)
		if st != 200 || body["endpoint"].(map[string]any)["previousSecretUntil"] != nil {
			t.Fatalf("rotate without grace: %d %v", st, body)
		}
		st, body = f.do(t, "POST", "/webhooks/endpoints/"+ids[1]+"/rotate-secret", &f.admin, jsonCT, `{"gracePeriodSeconds":-5}`)
		wantError(t, st, body, 400, "INVALID_INPUT")

		st, _ = f.do(t, "DELETE", "/webhooks/endpoints/"+ids[2], &f.admin, "", "")
		if st != 204 {
			t.Fatalf("delete: %d", st)
		}
		for _, p := range []string{ids[2], "nope", vaspd.NewID(vaspd.IDEndpoint)} {
			st, body = f.do(t, "GET", "/webhooks/endpoints/"+p, &f.admin, "", "")
			wantError(t, st, body, 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
		}
		st, body = f.do(t, "DELETE", "/webhooks/endpoints/"+ids[2], &f.admin, "", "")
		wantError(t, st, body, 404, "WEBHOOK_ENDPOINT_NOT_FOUND")

		st, body = f.do(t, "GET", "/webhooks/public-key", &f.viewer, "", "")
		if st != 200 || !strings.HasPrefix(body["publicKey"].(string), "whpk_") {
			t.Fatalf("public key: %d %v", st, body)
		}
	})
}

// TestWebhookConfigAndTest covers UMAaaS's PATCH /config {webhookEndpoint}
// (a TEST webhook when it changes) and POST /webhooks/test.
func TestWebhookConfigAndTest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newWebhookFixture(t, db)
		rc := newWebhookReceiver(t)

		st, body := f.do(t, "POST", "/webhooks/test", &f.admin, "", "")
		wantError(t, st, body, 400, "WEBHOOK_ENDPOINT_NOT_SET")
		st, body = f.do(t, "GET", "/config", &f.viewer, "", "")
		if st != 200 || body["webhookEndpoint"] != nil {
			t.Fatalf("empty config: %d %v", st, body)
		}
		st, body = f.do(t, "PATCH", "/config", &f.viewer, jsonCT, `{"webhookEndpoint":"`+rc.URL+`"}`)
		wantError(t, st, body, 403, "FORBIDDEN")
		// null, as a merge patch, would replace the whole config: refused
		// as every PATCH refuses it.
		for _, bad := range []string{`{"webhookEndpoint":"http://192.168.1.1/"}`, `{"webhookEndpoint":7}`, `{"umaDomain":"x"}`, `null`} {
			st, body = f.do(t, "PATCH", "/config", &f.admin, jsonCT, bad)
			wantError(t, st, body, 400, "INVALID_INPUT")
		}

		st, body = f.do(t, "PATCH", "/config", &f.admin, jsonCT, `{"webhookEndpoint":"`+rc.URL+`"}`)
		if st != 200 || body["webhookEndpoint"] != rc.URL || !strings.HasPrefix(body["webhookSecret"].(string), "whsec_") {
			t.Fatalf("set: %d %v", st, body)
		}
		primary := body["webhookEndpointId"].(string)
		waitFor(t, func() bool { return len(rc.bodies()) == 1 })
		if !strings.Contains(rc.bodies()[0], `"type":"TEST"`) {
			t.Fatalf("configuring the endpoint sent %s", rc.bodies()[0])
		}
		// The same URL again: no change, no TEST, no new secret.
		st, body = f.do(t, "PATCH", "/config", &f.admin, jsonCT, `{"webhookEndpoint":"`+rc.URL+`"}`)
		if st != 200 || body["webhookSecret"] != nil || body["webhookEndpointId"] != primary {
			t.Fatalf("unchanged: %d %v", st, body)
		}
		st, body = f.do(t, "GET", "/config", &f.viewer, "", "")
		if st != 200 || body["webhookEndpoint"] != rc.URL {
			t.Fatalf("get: %d %v", st, body)
		}

		st, body = f.do(t, "POST", "/webhooks/test", &f.admin, "", "")
		if st != 200 || body["url"] != rc.URL || body["response_status"] != float64(200) || body["response_body"] != "pong" {
			t.Fatalf("test: %d %v", st, body)
		}
		rc.status.Store(500)
		st, body = f.do(t, "POST", "/webhooks/test", &f.admin, jsonCT, `{"endpointId":"`+primary+`"}`)
		wantError(t, st, body, 400, "WEBHOOK_DELIVERY_ERROR")
		if d := body["details"].(map[string]any); d["response_status"] != float64(500) || d["url"] != rc.URL {
			t.Fatalf("details: %v", body)
		}
		st, body = f.do(t, "POST", "/webhooks/test", &f.admin, jsonCT, `{"endpointId":"bad"}`)
		wantError(t, st, body, 400, "INVALID_INPUT")

		// A disabled endpoint is not sent to: 409, nothing reaches it.
		st, body = f.do(t, "PATCH", "/webhooks/endpoints/"+primary, &f.admin, jsonCT, `{"enabled":false}`)
		if st != 200 || body["enabled"] != false {
			t.Fatalf("disable: %d %v", st, body)
		}
		sent := len(rc.bodies())
		st, body = f.do(t, "POST", "/webhooks/test", &f.admin, "", "")
		wantError(t, st, body, 409, "CONFLICT")
		if msg, _ := body["message"].(string); !strings.Contains(msg, "disabled") || len(rc.bodies()) != sent {
			t.Fatalf("test webhook to a disabled endpoint: %v, %d sent", body, len(rc.bodies())-sent)
		}

		// null removes the primary endpoint.
		st, body = f.do(t, "PATCH", "/config", &f.admin, jsonCT, `{"webhookEndpoint":null}`)
		if st != 200 || body["webhookEndpoint"] != nil {
			t.Fatalf("remove: %d %v", st, body)
		}
		st, body = f.do(t, "POST", "/webhooks/test", &f.admin, "", "")
		wantError(t, st, body, 400, "WEBHOOK_ENDPOINT_NOT_SET")
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebhookDeliveriesRedeliverReplay covers the delivery log, redelivery
// and replay jobs.
func TestWebhookDeliveriesRedeliverReplay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newWebhookFixture(t, db)
		rc := newWebhookReceiver(t)
		rc.status.Store(409) // "already processed" counts as delivered
		start := time.Now().UTC().Add(-time.Minute)
		st, body := f.do(t, "PATCH", "/config", &f.admin, jsonCT, `{"webhookEndpoint":"`+rc.URL+`"}`)
		if st != 200 {
			t.Fatalf("%d %v", st, body)
		}
		ep := body["webhookEndpointId"].(string)
		for i := 0; i < 2; i++ {
			if st, body := f.do(t, "POST", "/webhooks/test", &f.admin, "", ""); st != 200 {
				t.Fatalf("test: %d %v", st, body)
			}
		}
		waitFor(t, func() bool { return len(rc.bodies()) == 3 })

		var list map[string]any
		waitFor(t, func() bool {
			st, list = f.do(t, "GET", "/webhooks/deliveries?status=delivered&endpointId="+ep, &f.viewer, "", "")
			return st == 200 && len(list["data"].([]any)) == 3
		})
		st, body = f.do(t, "GET", "/webhooks/deliveries?limit=2&type=TEST&since="+url.QueryEscape(start.Format(time.RFC3339)), &f.viewer, "", "")
		if st != 200 || len(body["data"].([]any)) != 2 || body["hasMore"] != true {
			t.Fatalf("page: %d %v", st, body)
		}
		st, body = f.do(t, "GET", "/webhooks/deliveries?limit=2&cursor="+body["nextCursor"].(string), &f.viewer, "", "")
		if st != 200 || len(body["data"].([]any)) != 1 || body["hasMore"] != false {
			t.Fatalf("second page: %d %v", st, body)
		}
		for _, q := range []string{"status=nope", "since=yesterday", "endpointId=x", "webhookId=Webhook:x", "limit=0",
			"type=%00", "type=%FF", "type=" + strings.Repeat("A", 65)} {
			st, body = f.do(t, "GET", "/webhooks/deliveries?"+q, &f.viewer, "", "")
			wantError(t, st, body, 400, "INVALID_INPUT")
		}

		id := list["data"].([]any)[0].(map[string]any)["id"].(string)
		st, body = f.do(t, "GET", "/webhooks/deliveries/"+id, &f.viewer, "", "")
		log, _ := body["attemptLog"].([]any)
		if st != 200 || len(log) != 1 || log[0].(map[string]any)["responseStatus"] != float64(409) ||
			log[0].(map[string]any)["responseBody"] != "pong" || body["payload"].(map[string]any)["type"] != "TEST" {
			t.Fatalf("get delivery: %d %v", st, body)
		}
		for _, p := range []string{"nope", vaspd.NewID(vaspd.IDDelivery)} {
			st, body = f.do(t, "GET", "/webhooks/deliveries/"+p, &f.viewer, "", "")
			wantError(t, st, body, 404, "WEBHOOK_DELIVERY_NOT_FOUND")
		}

		rc.status.Store(200)
		st, body = f.do(t, "POST", "/webhooks/deliveries/"+id+"/redeliver", &f.viewer, "", "")
		wantError(t, st, body, 403, "FORBIDDEN")
		st, body = f.do(t, "POST", "/webhooks/deliveries/"+id+"/redeliver", &f.admin, "", "")
		if st != 202 || body["status"] != "pending" {
			t.Fatalf("redeliver: %d %v", st, body)
		}
		waitFor(t, func() bool { return len(rc.bodies()) == 4 })

		st, body = f.do(t, "POST", "/webhooks/replays", &f.admin, jsonCT,
			`{"endpointId":"`+ep+`","since":"`+start.Format(time.RFC3339)+`","until":"`+time.Now().UTC().Add(time.Minute).Format(time.RFC3339)+`"}`)
		if st != 202 || body["status"] != "pending" || !strings.HasPrefix(body["id"].(string), "Job:") {
			t.Fatalf("replay: %d %v", st, body)
		}
		job := body["id"].(string)
		waitFor(t, func() bool {
			_, body = f.do(t, "GET", "/webhooks/replays/"+job, &f.viewer, "", "")
			return body["status"] == "completed"
		})
		if body["processed"] != float64(3) {
			t.Fatalf("job: %v", body)
		}
		waitFor(t, func() bool { return len(rc.bodies()) == 7 })
		for _, bad := range []string{
			`{"endpointId":"` + ep + `","since":"x","until":"2025-01-01T00:00:00Z"}`,
			`{"endpointId":"` + ep + `","since":"2025-01-02T00:00:00Z","until":"2025-01-01T00:00:00Z"}`,
			`{"endpointId":"nope","since":"2025-01-01T00:00:00Z","until":"2025-01-02T00:00:00Z"}`,
		} {
			st, body = f.do(t, "POST", "/webhooks/replays", &f.admin, jsonCT, bad)
			wantError(t, st, body, 400, "INVALID_INPUT")
		}
		st, body = f.do(t, "GET", "/webhooks/replays/"+vaspd.NewID(vaspd.IDJob), &f.viewer, "", "")
		wantError(t, st, body, 404, "NOT_FOUND")

		// Cancellation: MANAGE; a finished job is a conflict, an unknown one 404.
		st, body = f.do(t, "POST", "/webhooks/replays/"+job+"/cancel", &f.viewer, "", "")
		wantError(t, st, body, 403, "FORBIDDEN")
		st, body = f.do(t, "POST", "/webhooks/replays/"+job+"/cancel", &f.admin, "", "")
		wantError(t, st, body, 409, "CONFLICT")
		for _, p := range []string{"nope", vaspd.NewID(vaspd.IDJob)} {
			st, body = f.do(t, "POST", "/webhooks/replays/"+p+"/cancel", &f.admin, "", "")
			wantError(t, st, body, 404, "NOT_FOUND")
		}
	})
}

// TestSlowTestWebhookOutlivesTheWriteTimeout: POST /webhooks/test sends a
// TEST webhook synchronously and answers with the receiver's answer, which
// may take the endpoint's timeout (timeoutMs, up to a minute: the server's
// write timeout). That answer must still reach the caller, not a
// connection closed without one. PATCH /config, which queues its TEST
// webhook, answers at once however slow the receiver.
func TestSlowTestWebhookOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	svc, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	const writeTimeout = time.Second
	f := newFixtureWith(t, db, func(s *api.Server) { s.MountWebhooks(svc) },
		func(s *http.Server) { s.WriteTimeout = writeTimeout })
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(2 * writeTimeout)
		_, _ = w.Write([]byte("pong"))
	}))
	t.Cleanup(slow.Close)

	start := time.Now()
	st, body := f.do(t, "PATCH", "/config", &f.admin, jsonCT, `{"webhookEndpoint":"`+slow.URL+`"}`)
	if st != 200 {
		t.Fatalf("PATCH /config: %d %v", st, body)
	}
	if d := time.Since(start); d > writeTimeout {
		t.Fatalf("PATCH /config took %s: it waited for the receiver", d)
	}
	primary := body["webhookEndpointId"].(string)
	if st, body := f.do(t, "PATCH", "/webhooks/endpoints/"+primary, &f.admin, jsonCT, `{"timeoutMs":10000}`); st != 200 {
		t.Fatalf("set the endpoint's timeout: %d %v", st, body)
	}

	req, _ := http.NewRequest("POST", f.srv.URL+"/webhooks/test", nil)
	req.SetBasicAuth(f.admin.ClientID, f.admin.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /webhooks/test to a receiver slower than the write timeout got no answer: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"response_body":"pong"`) {
		t.Fatalf("POST /webhooks/test: %d %s", resp.StatusCode, raw)
	}
}
