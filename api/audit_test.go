package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// auditFixture is a payFixture with every platform route mounted, and an
// audited route whose handler panics.
type auditFixture struct {
	*payFixture
	routes []api.Route
	n      int // request ids sent
	// hanging receives when POST /test/hang's handler has started (its
	// audit event written), and waits for the client to leave.
	hanging chan struct{}
}

func newAuditFixture(t *testing.T, db *store.DB) *auditFixture {
	t.Helper()
	a := &auditFixture{hanging: make(chan struct{}, 1)}
	a.payFixture = newPayFixtureMount(t, db, nil, nil, nil, func(s *api.Server, f *payFixture) {
		us := users.New(db, nil, users.WithRates(f.rates))
		s.MountUsers(us, f.ledger, f.rates, f.domain)
		s.MountUserImports(users.NewImporter(us, users.ImporterOptions{}), f.domain)
		inv, err := invitations.New(db, us, invitations.Options{Rates: f.rates, Domain: f.domain, BaseURL: "http://" + f.domain})
		if err != nil {
			t.Fatal(err)
		}
		s.MountInvitations(inv)
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		s.MountWebhooks(hooks)
		s.Handle("POST /test/panic/{thing}", vaspd.PermManage, func(w http.ResponseWriter, r *http.Request) error {
			panic("the handler died")
		}, api.Audited)
		s.Handle("POST /test/hang", vaspd.PermManage, func(w http.ResponseWriter, r *http.Request) error {
			select {
			case a.hanging <- struct{}{}:
			default:
			}
			<-r.Context().Done() // until the client hangs up
			return r.Context().Err()
		}, api.Audited)
		a.routes = s.Routes()
	})
	return a
}

// sent is one request sent and its answer.
type sent struct {
	id, method, path, code string
	status                 int
	body                   map[string]any
	header                 http.Header
}

// send sends a request with a fresh X-Request-Id.
func (a *auditFixture) send(t *testing.T, method, path string, tok *auth.CreatedToken, body string, headers ...string) sent {
	t.Helper()
	a.n++
	id := fmt.Sprintf("audit-%d", a.n)
	st, _, m, h := a.callHeader(t, method, path, tok, body, append(headers, "X-Request-Id", id)...)
	code, _ := m["code"].(string)
	if st < 400 {
		code = ""
	}
	return sent{id: id, method: method, path: path, status: st, code: code, body: m, header: h}
}

// events lists audit events through GET /audit-events with query q,
// following every cursor.
func (a *auditFixture) events(t *testing.T, q string) []map[string]any {
	t.Helper()
	var out []map[string]any
	path := "/audit-events?" + q
	for {
		st, raw, m := a.call(t, "GET", path, &a.admin, "")
		if st != 200 {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
		for _, e := range m["data"].([]any) {
			out = append(out, e.(map[string]any))
		}
		if m["hasMore"] != true {
			return out
		}
		path = "/audit-events?" + q + "&cursor=" + m["nextCursor"].(string)
	}
}

const (
	auditUserJSON = `{"umaAddress":"$dave@DOMAIN","platformUserId":"p-dave","userType":"INDIVIDUAL",
	"fullName":"Dave Secretperson","birthDate":"1990-01-15","nationality":"FR","kycStatus":"VERIFIED","preferredCurrencies":["USD"],
	"bankAccountInfo":{"accountType":"IBAN","iban":"FR1420041010050500013M02606","bankName":"La Banque"}}`
	dbURL = "postgres://vaspd:hunter2-db-password@db.internal:5432/vaspd"
)

// TestAuditTrail: every audited route's request is an event naming its
// token, route, path parameters, client, request id and Idempotency-Key,
// with the outcome answered, a failure's too; a request whose handler
// never returns is an event without an outcome; requests to routes not
// audited, and requests that did not authenticate or lacked the
// permission, are none; no body reaches the table; GET /audit-events
// pages and filters them, for MANAGE only.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		rc := newWebhookReceiver(t)
		rand := func(typ string) string { return vaspd.NewID(typ) }
		var audited []sent
		do := func(method, path string, tok *auth.CreatedToken, body string, headers ...string) sent {
			t.Helper()
			s := a.send(t, method, path, tok, body, headers...)
			audited = append(audited, s)
			return s
		}
		want := func(s sent, status int) {
			t.Helper()
			if s.status != status {
				t.Fatalf("%s %s: %d %v, want %d", s.method, s.path, s.status, s.body, status)
			}
		}
		secrets := []string{a.admin.ClientSecret, dbURL, "hunter2", "FR1420041010050500013M02606", "Secretperson"}

		// Tokens: the last MANAGE token cannot go (409); a new one's
		// secret never reaches the trail.
		want(do("DELETE", "/tokens/"+a.admin.ClientID, &a.admin, ""), 409)
		created := do("POST", "/tokens", &a.admin, `{"name":"ops","permissions":["VIEW","MANAGE"]}`)
		want(created, 201)
		ops := auth.CreatedToken{ClientID: created.body["clientId"].(string), ClientSecret: created.body["clientSecret"].(string)}
		secrets = append(secrets, ops.ClientSecret)
		ci := do("POST", "/tokens", &ops, `{"name":"ci","permissions":["VIEW"]}`)
		want(ci, 201)
		secrets = append(secrets, ci.body["clientSecret"].(string))
		want(do("DELETE", "/tokens/"+ci.body["id"].(string), &ops, ""), 204)
		want(do("DELETE", "/tokens/"+rand(vaspd.IDToken), &a.admin, ""), 404)

		// Users and their money.
		u := do("POST", "/users", &a.admin, strings.ReplaceAll(auditUserJSON, "DOMAIN", a.domain), "Idempotency-Key", "user-dave")
		want(u, 201)
		uid := u.body["id"].(string)
		want(do("PATCH", "/users/"+uid, &a.admin, `{"fullName":"Dave Secretperson Jr"}`), 200)
		want(do("POST", "/users/"+uid+"/deposits", &a.admin, `{"currencyCode":"USD","amount":10000,"reference":"wire-1"}`, "Idempotency-Key", "dep-1"), 201)
		// Its key in the body, not in the header: known after the event
		// was written, recorded with the outcome.
		wd := do("POST", "/users/"+uid+"/withdrawals", &a.admin, `{"currencyCode":"USD","amount":10000,"reference":"out-1","idempotencyKey":"wd-1"}`)
		want(wd, 201)
		want(do("POST", "/users/"+rand(vaspd.IDUser)+"/deposits", &a.admin, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "dep-2"), 404)
		want(do("DELETE", "/users/"+uid, &a.admin, ""), 200)
		want(do("POST", "/users/bulk/csv", &a.admin, "umaAddress,platformUserId,userType\n$erin,p-erin,INDIVIDUAL\n", "Content-Type", "text/csv"), 202)
		want(do("POST", "/ledger/transfers", &a.admin, `{"from":"system:overpaid","to":"system:fees","currencyCode":"BTC","amount":1,"reference":"kept"}`,
			"Idempotency-Key", "keep-1"), 400)
		want(do("POST", "/transactions/"+rand(vaspd.IDTransaction)+"/approve", &a.admin, ""), 404)
		want(do("POST", "/transactions/"+rand(vaspd.IDTransaction)+"/reject", &a.admin, `{"reason":"no"}`), 404)
		want(do("POST", "/sandbox/send", &a.admin, `{"reference":"`+rand(vaspd.IDQuote)+`","currencyCode":"USD","currencyAmount":1}`), 404)
		want(do("POST", "/sandbox/receive", &a.admin, `{"senderUmaAddress":"$success@elsewhere.example","userId":"`+rand(vaspd.IDUser)+
			`","receivingCurrencyCode":"USD","receivingCurrencyAmount":1}`), 400)

		// Webhooks and the configuration: secrets in both directions.
		ep := do("POST", "/webhooks/endpoints", &a.admin, `{"url":"`+rc.URL+`"}`)
		want(ep, 201)
		epID := ep.body["id"].(string)
		secrets = append(secrets, ep.body["secret"].(string))
		want(do("PATCH", "/webhooks/endpoints/"+epID, &a.admin, `{"description":"`+dbURL+`"}`), 200)
		rot := do("POST", "/webhooks/endpoints/"+epID+"/rotate-secret", &a.admin, "")
		want(rot, 200)
		secrets = append(secrets, rot.body["secret"].(string))
		want(do("POST", "/webhooks/test", &a.admin, `{"endpointId":"`+epID+`"}`), 200)
		want(do("POST", "/webhooks/deliveries/"+rand(vaspd.IDDelivery)+"/redeliver", &a.admin, ""), 404)
		want(do("POST", "/webhooks/replays", &a.admin, `{"endpointId":"`+rand(vaspd.IDEndpoint)+`"}`), 400)
		want(do("POST", "/webhooks/replays/"+rand(vaspd.IDJob)+"/cancel", &a.admin, ""), 404)
		cfg := do("PATCH", "/config", &a.admin, `{"webhookEndpoint":"`+rc.URL+`/primary?db=`+url.QueryEscape(dbURL)+`"}`)
		want(cfg, 200)
		if s, ok := cfg.body["webhookSecret"].(string); ok {
			secrets = append(secrets, s)
		}
		want(do("DELETE", "/webhooks/endpoints/"+epID, &a.admin, ""), 204)
		// A handler that never returns: recovered, answered 500.
		died := do("POST", "/test/panic/thing-1", &a.admin, "")
		want(died, 500)

		// None of these is an event: not audited, not authenticated, not
		// permitted, or a read.
		var unaudited []sent
		for _, s := range []sent{
			a.send(t, "POST", "/quotes", &a.admin, `{}`),
			a.send(t, "POST", "/invitations", &a.admin, `{}`),
			a.send(t, "POST", "/fbo/confirm/"+rand(vaspd.IDQuote), &a.admin, ""),
			a.send(t, "GET", "/users", &a.admin, ""),
			a.send(t, "PATCH", "/config", &a.viewer, `{"webhookEndpoint":null}`),
			a.send(t, "POST", "/tokens", nil, `{"name":"x","permissions":["VIEW"]}`),
		} {
			if s.status != 200 && s.status < 400 {
				t.Fatalf("%s %s: %d", s.method, s.path, s.status)
			}
			unaudited = append(unaudited, s)
		}

		evs := a.events(t, "limit=7")
		byRequest := map[string]map[string]any{}
		for _, e := range evs {
			byRequest[e["requestId"].(string)] = e
		}
		if len(evs) != len(audited) || len(byRequest) != len(audited) {
			t.Fatalf("%d events for %d audited requests", len(evs), len(audited))
		}
		routes := map[string]bool{}
		for _, s := range audited {
			e := byRequest[s.id]
			if e == nil {
				t.Fatalf("%s %s: no event", s.method, s.path)
			}
			routes[e["route"].(string)] = true
			tok, name := a.admin.ClientID, "admin"
			if strings.HasPrefix(s.path, "/tokens") && s.status != 409 && e["tokenId"] != a.admin.ClientID {
				tok, name = ops.ClientID, "ops"
			}
			if e["tokenId"] != tok || e["tokenName"] != name || e["method"] != s.method || e["clientAddress"] != "127.0.0.1" ||
				!strings.HasPrefix(e["id"].(string), "AuditEvent:") || !strings.HasPrefix(e["route"].(string), s.method+" ") {
				t.Errorf("%s %s: event %v", s.method, s.path, e)
			}
			// The path's values by the route's names, the one id the
			// route names the resource.
			params := e["pathParams"].(map[string]any)
			for name, v := range params {
				if !strings.Contains(e["route"].(string), "{"+name+"}") || !strings.Contains(s.path, "/"+v.(string)) || e["resourceId"] != v {
					t.Errorf("%s %s: path parameters %v, resource %v", s.method, s.path, params, e["resourceId"])
				}
			}
			if strings.Contains(e["route"].(string), "{") != (len(params) == 1) {
				t.Errorf("%s %s: path parameters %v", s.method, s.path, params)
			}
			if s.id == died.id {
				if e["outcome"] != nil {
					t.Errorf("a handler that panicked: outcome %v, want unknown (null)", e["outcome"])
				}
				continue
			}
			o, _ := e["outcome"].(map[string]any)
			if o == nil || o["status"] != float64(s.status) || o["errorCode"] != nilIfEmpty(s.code) || o["completedAt"] == nil {
				t.Errorf("%s %s answered %d %s: outcome %v", s.method, s.path, s.status, s.code, e["outcome"])
			}
		}
		if k := byRequest[audited[5].id]["idempotencyKey"]; k != "user-dave" {
			t.Errorf("POST /users: idempotencyKey %v", k)
		}
		if k := byRequest[wd.id]["idempotencyKey"]; k != "wd-1" {
			t.Errorf("a withdrawal keyed in its body: idempotencyKey %v", k)
		}
		// Every audited route of the server was exercised.
		for _, rt := range a.routes {
			if rt.Audited && !routes[rt.Pattern] && rt.Pattern != "POST /test/hang" { // TestAuditClientGone's
				t.Errorf("no event for audited route %s", rt.Pattern)
			}
		}
		for _, s := range unaudited {
			if byRequest[s.id] != nil {
				t.Errorf("%s %s (%d) is an event", s.method, s.path, s.status)
			}
		}

		// No body, in either direction, reaches the table.
		rows, err := db.QueryContext(t.Context(), `SELECT id, token_id, token_name, method, route, path_params,
			COALESCE(resource_id, ''), client_address, request_id, COALESCE(idempotency_key, ''), COALESCE(error_code, '')
			FROM audit_events`)
		if err != nil {
			t.Fatal(err)
		}
		var dump strings.Builder
		for rows.Next() {
			cols := make([]string, 11)
			ptrs := make([]any, len(cols))
			for i := range cols {
				ptrs[i] = &cols[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			dump.WriteString(strings.Join(cols, "|") + "\n")
		}
		rows.Close()
		for _, secret := range secrets {
			if secret == "" || strings.Contains(dump.String(), secret) {
				t.Fatalf("%q is in the audit table:\n%s", secret, dump.String())
			}
		}

		testAuditList(t, a, evs, ops, epID)
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// testAuditList checks GET /audit-events's order, pages, filters and
// refusals over all, the events newest first.
func testAuditList(t *testing.T, a *auditFixture, all []map[string]any, ops auth.CreatedToken, endpointID string) {
	ids := func(evs []map[string]any) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e["id"].(string))
		}
		return out
	}
	newest := ids(all)
	if !slices.IsSortedFunc(newest, func(x, y string) int { return strings.Compare(y, x) }) {
		t.Fatalf("not newest first: %v", newest)
	}
	oldest := slices.Clone(newest)
	slices.Reverse(oldest)
	if got := ids(a.events(t, "sortOrder=asc&limit=3")); !slices.Equal(got, oldest) {
		t.Errorf("oldest first: %v, want %v", got, oldest)
	}
	count := func(q string) int { t.Helper(); return len(a.events(t, q)) }
	if n := count("tokenId=" + ops.ClientID); n != 2 {
		t.Errorf("ops's events: %d, want 2", n)
	}
	if n := count("tokenId=" + a.viewer.ClientID); n != 0 {
		t.Errorf("the viewer's events: %d, want 0", n)
	}
	if n := count("tokenId=" + audit.CLITokenID); n != 0 { // the CLI's own: none here, but a filter it takes
		t.Errorf("the CLI's events: %d, want 0", n)
	}
	if n := count("resourceId=" + url.QueryEscape(endpointID)); n != 4 { // POST (its creation), PATCH, rotate, DELETE
		t.Errorf("the endpoint's events: %d, want 4", n)
	}
	if n := count("route=" + url.QueryEscape("PATCH /config")); n != 1 {
		t.Errorf("PATCH /config events: %d, want 1", n)
	}
	first := all[len(all)-1]["createdAt"].(string)
	if n := count("startDate=" + url.QueryEscape(first) + "&endDate=" + url.QueryEscape(first)); n < 1 {
		t.Errorf("the first event's moment: %d events", n)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if n := count("startDate=" + future); n != 0 {
		t.Errorf("from an hour ahead: %d events", n)
	}
	if n := count("endDate=2020-01-01T00:00:00Z"); n != 0 {
		t.Errorf("until 2020: %d events", n)
	}
	if n := count("endDate=" + future); n != len(all) {
		t.Errorf("until an hour ahead: %d events, want %d", n, len(all))
	}
	for _, q := range []string{"tokenId=nope", "tokenId=" + vaspd.NewID(vaspd.IDUser), "startDate=yesterday", "endDate=2025-13-01",
		"sortOrder=up", "limit=0", "limit=101", "cursor=%21%21", "route=config", "resourceId=a%00b"} {
		st, raw, _ := a.call(t, "GET", "/audit-events?"+q, &a.admin, "")
		wantAPIError(t, st, raw, 400, vaspd.CodeInvalidInput)
	}
	st, raw, _ := a.call(t, "GET", "/audit-events", &a.viewer, "")
	wantAPIError(t, st, raw, 403, vaspd.CodeForbidden)
	st, raw, _ = a.call(t, "GET", "/audit-events", nil, "")
	wantAPIError(t, st, raw, 401, vaspd.CodeUnauthorized)
}

// TestAuditClientGone: a client that hangs up does not lose the event,
// nor its outcome: the handler's answer, though no one reads it.
func TestAuditClientGone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		// The client leaves once the handler runs: before it, the event
		// may not be written yet (a loaded machine), and a request whose
		// event is not written does nothing.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			select {
			case <-a.hanging:
			case <-time.After(10 * time.Second):
			}
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, "POST", a.base+"/test/hang", nil)
		req.SetBasicAuth(a.admin.ClientID, a.admin.ClientSecret)
		req.Header.Set("X-Request-Id", "gone")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("answered %d", resp.StatusCode)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			evs := a.events(t, "route="+url.QueryEscape("POST /test/hang"))
			if len(evs) != 1 || evs[0]["requestId"] != "gone" {
				t.Fatalf("events %v", evs)
			}
			if o, _ := evs[0]["outcome"].(map[string]any); o != nil {
				if o["status"] != float64(500) || o["errorCode"] != vaspd.CodeInternal {
					t.Fatalf("outcome %v", o)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no outcome 10 s after the client left")
			}
		}
	})
}

// TestAuditClientAddress: an event's client is the request log's: behind
// a trusted proxy, the address its X-Forwarded-For names; the peer's
// otherwise, whatever the header says.
func TestAuditClientAddress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range []struct {
			trusted []netip.Prefix
			want    string
		}{
			{[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "198.51.100.9"},
			{nil, "127.0.0.1"},
		} {
			f := newFixtureOpts(t, db, func(o *api.Options) { o.TrustedProxies = c.trusted }, nil, nil)
			st, _, _ := f.send(t, "POST", "/tokens", &f.admin, jsonCT, `{"name":"x","permissions":["VIEW"]}`,
				"X-Forwarded-For", "198.51.100.9", "X-Request-Id", "proxied-"+c.want)
			if st != 201 {
				t.Fatalf("POST /tokens: %d", st)
			}
			_, body := f.do(t, "GET", "/audit-events?limit=1", &f.admin, "", "")
			e := body["data"].([]any)[0].(map[string]any)
			if e["requestId"] != "proxied-"+c.want || e["clientAddress"] != c.want {
				t.Errorf("trusted %v: event %v, want client %s", c.trusted, e, c.want)
			}
		}
	})
}

// TestAuditUnwritable: when its event cannot be written, an audited
// request is refused with 503 and does nothing; reads go on.
func TestAuditUnwritable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		if _, err := db.ExecContext(t.Context(), `DROP TABLE audit_events`); err != nil {
			t.Fatal(err)
		}
		st, body := f.do(t, "POST", "/tokens", &f.admin, jsonCT, `{"name":"unaudited","permissions":["VIEW"]}`)
		wantError(t, st, body, 503, vaspd.CodeUnavailable)
		st, body = f.do(t, "DELETE", "/tokens/"+f.viewer.ClientID, &f.admin, "", "")
		wantError(t, st, body, 503, vaspd.CodeUnavailable)
		st, body = f.do(t, "GET", "/tokens", &f.admin, "", "")
		if st != 200 || len(body["data"].([]any)) != 2 {
			t.Fatalf("after refused changes: %d %v, want the 2 tokens there were", st, body)
		}
	})
}
