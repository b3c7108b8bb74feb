package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// fuzzDB is a database a fuzz target reuses across its inputs: PostgreSQL
// when VASPD_TEST_POSTGRES_URL is set (it refuses text SQLite takes: NUL,
// invalid UTF-8), else SQLite.
func fuzzDB(t testing.TB) *store.DB {
	if os.Getenv(storetest.PostgresEnv) != "" {
		return storetest.Postgres(t)
	}
	return storetest.SQLite(t)
}

// platformFixture is every platform route vaspd serves, on one database,
// with an object of each kind the routes name: a user (carol), a lookup
// of $bob for alice, a webhook endpoint and an invitation. The webhook
// routes have a database of their own, so that an endpoint a fuzzed body
// creates is never sent the payments' webhooks.
type platformFixture struct {
	*payFixture
	carol      users.User
	lookupID   string
	endpointID string
	invitation string
	ids        *strings.Replacer // the placeholders of fuzzed bodies
}

func newPlatformFixture(t testing.TB) *platformFixture {
	t.Helper()
	ctx := context.Background()
	db := fuzzDB(t)
	hooksDB := fuzzDB(t)
	p := &platformFixture{}
	p.payFixture = newPayFixtureMount(t, db, nil, nil, nil, func(s *api.Server, f *payFixture) {
		us := users.New(db, nil, users.WithRates(f.rates))
		carol, err := us.Create(ctx, db, users.User{PlatformUserID: "p-carol", UserType: users.Individual, UMALocal: "carol",
			FullName: "Carol", PreferredCurrencies: []string{"USD"}})
		if err != nil {
			t.Fatal(err)
		}
		p.carol = carol
		s.MountUsers(us, f.ledger, f.rates, f.domain)
		s.MountUserImports(users.NewImporter(us, users.ImporterOptions{}), f.domain)
		inv, err := invitations.New(db, us, invitations.Options{Rates: f.rates, Domain: f.domain, BaseURL: "http://" + f.domain})
		if err != nil {
			t.Fatal(err)
		}
		i, err := inv.Create(ctx, invitations.CreateInput{InviterUMA: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		p.invitation = i.Code
		s.MountInvitations(inv)
		hooks, err := delivery.New(hooksDB, delivery.Options{MaxEndpoints: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		u := "https://hooks.example/vaspd"
		e, _, err := hooks.CreateEndpoint(ctx, delivery.EndpointInput{URL: &u})
		if err != nil {
			t.Fatal(err)
		}
		p.endpointID = e.ID
		s.MountWebhooks(hooks)
	})
	status, raw, m := p.call(t, "GET", "/receiver/"+url.PathEscape("$bob@"+p.domain)+"?userId="+p.alice.UserID, &p.admin, "")
	if status != 200 {
		t.Fatalf("lookup: %d %s", status, raw)
	}
	p.lookupID = m["lookupId"].(string)
	p.ids = strings.NewReplacer("LOOKUP", p.lookupID, "USER", p.carol.ID, "ENDPOINT", p.endpointID, "CAROL", "$carol@"+p.domain, "DOMAIN", p.domain)
	return p
}

// platformRoute is a route taking a body, its path's ids filled in.
type platformRoute struct {
	method, path string
}

func (p *platformFixture) routes() []platformRoute {
	return []platformRoute{
		{"POST", "/users"},
		{"PATCH", "/users/" + p.carol.ID},
		{"POST", "/users/" + p.carol.ID + "/deposits"},
		{"POST", "/users/" + p.carol.ID + "/withdrawals"},
		{"POST", "/quotes"},
		{"POST", "/webhooks/endpoints"},
		{"PATCH", "/webhooks/endpoints/" + p.endpointID},
		{"POST", "/webhooks/endpoints/" + p.endpointID + "/rotate-secret"},
		{"POST", "/webhooks/replays"},
		{"PATCH", "/config"},
		{"POST", "/invitations"},
		{"POST", "/invitations/" + p.invitation + "/claim"},
		{"POST", "/tokens"},
		{"POST", "/ledger/transfers"},
		{"POST", "/users/bulk/csv"},
		{"POST", "/transactions/Transaction:01a2020d-f8f0-7a11-9b3c-2e4d6f8a0b12/approve"},
	}
}

// contentTypes are the Content-Type headers a fuzzed request is sent with.
var contentTypes = []string{"application/json", "application/json; charset=utf-8", "text/csv", "", "text/plain",
	"multipart/form-data; boundary=XyZ", "application/merge-patch+json", "application/json; charset=latin1; x=\"y"}

// FuzzPlatformJSON: any body, with any of the content types a client may
// send, through the real handlers of every platform route that takes one
// (on PostgreSQL when VASPD_TEST_POSTGRES_URL is set). In the body, LOOKUP,
// USER, ENDPOINT, CAROL and DOMAIN stand for a live lookup id, user id,
// endpoint id, $carol's address and our domain, so that bodies get past
// the ids. The answer is
// never a 5xx, and is JSON; an error is the API's error JSON with its
// status.
func FuzzPlatformJSON(f *testing.F) {
	seeds := []struct {
		route int
		body  string
	}{
		{0, `{"umaAddress":"$dave","platformUserId":"p-dave","userType":"INDIVIDUAL","fullName":"Dave","birthDate":"1990-01-15","nationality":"US","email":"d@e.example","preferredCurrencies":["USD","EUR"],"address":{"line1":"1 Main","postalCode":"94105","country":"US"},"bankAccountInfo":{"accountType":"US_ACCOUNT","accountNumber":"123","routingNumber":"222888888","accountCategory":"CHECKING","accountHolderName":"Dave"}}`},
		{0, `{"umaAddress":"$acme","platformUserId":"p-acme","userType":"BUSINESS","businessInfo":{"legalName":"Acme","taxId":"1"},"kycStatus":"VERIFIED"}`},
		{1, `{"fullName":null,"email":"carol@x.example","preferredCurrencies":["EUR"],"address":{"line1":"x","postalCode":"1","country":"de"}}`},
		{1, `{"umaAddress":"$carol","kycStatus":"PENDING","bankAccountInfo":null}`},
		{2, `{"currencyCode":"USD","amount":1000,"reference":"dep-1"}`},
		{3, `{"currencyCode":"USD","amount":1,"reference":"wd-1","idempotencyKey":"k1"}`},
		{4, `{"lookupId":"LOOKUP","sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":100,"description":"for lunch","senderUserInfo":{"FULL_NAME":"Alice"}}`},
		{4, `{"lookupId":"LOOKUP","sendingCurrencyCode":"usd","receivingCurrencyCode":"EUR","lockedCurrencySide":"SENDING","lockedCurrencyAmount":9000000000000000,"autoRefresh":true}`},
		{5, `{"url":"https://hooks.example/a","description":"d","eventTypes":["INCOMING_PAYMENT"],"timeoutMs":5000,"signEd25519":true}`},
		{6, `{"enabled":false,"eventTypes":[],"url":"http://127.0.0.1/x"}`},
		{7, `{"gracePeriodSeconds":0}`},
		{8, `{"endpointId":"ENDPOINT","since":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00Z","status":"failed"}`},
		{9, `{"webhookEndpoint":"https://hooks.example/primary"}`},
		{9, `{"webhookEndpoint":null}`},
		{10, `{"inviterUma":"CAROL","firstName":"Eve","amountToSend":500,"expiresAt":"2099-01-01T00:00:00Z"}`},
		{11, `{"inviteeUma":"$dave@DOMAIN"}`},
		{12, `{"name":"ci","permissions":["VIEW","TRANSACT"]}`},
		{13, `{"from":"system:overpaid","to":"system:fees","currencyCode":"USD","amount":1,"reference":"r"}`},
		{14, "umaAddress,platformUserId,userType\n$frank,p,INDIVIDUAL\n"},
		{15, `{"receiverUserInfo":{"FULL_NAME":"Bob"},"reason":"ok"}`},
	}
	for _, s := range seeds {
		ct := uint8(0)
		if s.route == 14 {
			ct = 2
		}
		f.Add(uint8(s.route), ct, "", []byte(s.body))
	}
	f.Add(uint8(0), uint8(0), "key-1", []byte(`{"umaAddress":"$x","platformUserId":"\u0000","userType":"INDIVIDUAL"}`))
	f.Add(uint8(4), uint8(1), "", []byte(`{"lookupId":"LOOKUP","sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":1,"description":"\u0000\ud800"}`))
	f.Add(uint8(5), uint8(6), "", []byte(`{"url":"https://h.example/\u0000","description":"\u0000"}`))
	f.Add(uint8(14), uint8(5), "", []byte("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.csv\"\r\n\r\numaAddress,platformUserId,userType\n$g,p,INDIVIDUAL\n\r\n--XyZ--\r\n"))
	// NUL, which PostgreSQL refuses in text, in each body's free text.
	for route, body := range map[int]string{
		1:  `{"fullName":"a\u0000b"}`,
		2:  `{"currencyCode":"USD","amount":1,"reference":"r\u0000"}`,
		3:  `{"currencyCode":"USD","amount":1,"reference":"w","idempotencyKey":"k\u0000"}`,
		4:  `{"lookupId":"LOOKUP","sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":100,"senderUserInfo":{"FULL_NAME":"\u0000","X\u0000":1}}`,
		6:  `{"description":"\u0000"}`,
		8:  `{"endpointId":"ENDPOINT","since":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00Z","status":"\u0000"}`,
		9:  `{"webhookEndpoint":"https://hooks.example/\u0000"}`,
		10: `{"inviterUma":"CAROL","firstName":"\u0000"}`,
		11: `{"inviteeUma":"$\u0000@DOMAIN"}`,
		12: `{"name":"\u0000","permissions":["VIEW"]}`,
		13: `{"from":"system:overpaid","to":"system:fees","currencyCode":"USD","amount":1,"reference":"\u0000"}`,
		15: `{"receiverUserInfo":{"FULL_NAME":"\u0000"},"reason":"\u0000"}`,
	} {
		f.Add(uint8(route), uint8(0), "", []byte(body))
	}
	p := newPlatformFixture(f)
	routes := p.routes()
	f.Fuzz(func(t *testing.T, route, ct uint8, idem string, body []byte) {
		r := routes[int(route)%len(routes)]
		req, err := http.NewRequest(r.method, p.base+r.path, strings.NewReader(p.ids.Replace(string(body))))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(p.admin.ClientID, p.admin.ClientSecret)
		if c := contentTypes[int(ct)%len(contentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		if idem != "" && !strings.ContainsFunc(idem, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		defer resp.Body.Close()
		checkAPIAnswer(t, r.method+" "+r.path, resp)
	})
}

// checkAPIAnswer fails on a 5xx, an answer that is not JSON, or an error
// that is not the API's error JSON with its status.
func checkAPIAnswer(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, raw)
	}
	if resp.StatusCode == http.StatusNoContent {
		return
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %d, not JSON: %q", what, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 400 {
		msg, _ := m["message"].(string)
		code, _ := m["code"].(string)
		if m["status"] != float64(resp.StatusCode) || code == "" || msg == "" {
			t.Fatalf("%s: %d answered %s", what, resp.StatusCode, raw)
		}
	}
}
