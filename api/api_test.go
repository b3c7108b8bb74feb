package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

type fixture struct {
	srv    *httptest.Server
	tokens *auth.Tokens
	admin  auth.CreatedToken
	viewer auth.CreatedToken
}

func newFixture(t *testing.T, db *store.DB, extra func(s *api.Server)) *fixture {
	t.Helper()
	return newFixtureWith(t, db, extra, nil)
}

// newFixtureWith is newFixture with srvOpt, if not nil, changing the HTTP
// server before it starts (its write timeout, say).
func newFixtureWith(t *testing.T, db *store.DB, extra func(s *api.Server), srvOpt func(*http.Server)) *fixture {
	t.Helper()
	return newFixtureOpts(t, db, nil, extra, srvOpt)
}

// newFixtureOpts is newFixtureWith with the server's options changed by opt
// (if not nil).
func newFixtureOpts(t *testing.T, db *store.DB, opt func(*api.Options), extra func(s *api.Server), srvOpt func(*http.Server)) *fixture {
	t.Helper()
	ctx := context.Background()
	tokens, err := auth.NewTokens(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := tokens.Create(ctx, "admin", vaspd.AllPermissions)
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := tokens.Create(ctx, "viewer", []vaspd.Permission{vaspd.PermView})
	if err != nil {
		t.Fatal(err)
	}
	opts := api.Options{Tokens: tokens, Audit: audit.New(db, nil)}
	if opt != nil {
		opt(&opts)
	}
	s := api.New(opts)
	if extra != nil {
		extra(s)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	if srvOpt != nil {
		srvOpt(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, tokens: tokens, admin: admin, viewer: viewer}
}

func (f *fixture) do(t *testing.T, method, path string, tok *auth.CreatedToken, contentType, body string) (int, map[string]any) {
	t.Helper()
	st, m, _ := f.send(t, method, path, tok, contentType, body)
	return st, m
}

// send is do with more request headers (name, value pairs), answering the
// response's headers too.
func (f *fixture) send(t *testing.T, method, path string, tok *auth.CreatedToken, contentType, body string, headers ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if tok != nil {
		req.SetBasicAuth(tok.ClientID, tok.ClientSecret)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// wantError checks the UMAaaS error shape.
func wantError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["code"] != wantCode || body["status"] != float64(wantStatus) || body["message"] == "" {
		t.Fatalf("got %d %v, want %d %s", status, body, wantStatus, wantCode)
	}
}

func TestAuthAndPermissions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		st, body := f.do(t, "GET", "/tokens", nil, "", "")
		wantError(t, st, body, 401, "UNAUTHORIZED")
		wrong := f.admin
		wrong.ClientSecret = "not-the-secret"
		st, body = f.do(t, "GET", "/tokens", &wrong, "", "")
		wantError(t, st, body, 401, "UNAUTHORIZED")
		unknown := f.admin
		unknown.ClientID = vaspd.NewID(vaspd.IDToken)
		st, body = f.do(t, "GET", "/tokens", &unknown, "", "")
		wantError(t, st, body, 401, "UNAUTHORIZED")
		st, body = f.do(t, "GET", "/tokens", &f.viewer, "", "")
		wantError(t, st, body, 403, "FORBIDDEN")
		st, body = f.do(t, "GET", "/tokens", &f.admin, "", "")
		if st != 200 || body["hasMore"] != false || len(body["data"].([]any)) != 2 {
			t.Fatalf("list: %d %v", st, body)
		}

		// Listed and read tokens carry clientId, which the UMAaaS ApiToken
		// requires (never the secret).
		for _, d := range body["data"].([]any) {
			tok := d.(map[string]any)
			if tok["clientId"] != tok["id"] || tok["clientSecret"] != nil {
				t.Fatalf("listed token %v", tok)
			}
		}
		st, body = f.do(t, "GET", "/tokens/"+f.viewer.ClientID, &f.admin, "", "")
		if st != 200 || body["clientId"] != f.viewer.ClientID || body["clientSecret"] != nil {
			t.Fatalf("get token: %d %v", st, body)
		}
		// A deleted token stops working at once.
		st, _ = f.do(t, "DELETE", "/tokens/"+f.viewer.ClientID, &f.admin, "", "")
		if st != 204 {
			t.Fatalf("delete: %d", st)
		}
		st, body = f.do(t, "GET", "/tokens", &f.viewer, "", "")
		wantError(t, st, body, 401, "UNAUTHORIZED")
		st, body = f.do(t, "DELETE", "/tokens/"+f.viewer.ClientID, &f.admin, "", "")
		wantError(t, st, body, 404, "TOKEN_NOT_FOUND")
		st, body = f.do(t, "GET", "/tokens/not-an-id", &f.admin, "", "")
		wantError(t, st, body, 404, "TOKEN_NOT_FOUND")
	})
}

// TestAuthMalformedClientID: a clientId that cannot be a token id (NUL,
// invalid UTF-8, another id type) is a 401 like any wrong credential, never
// a database error (PostgreSQL rejects such text outright).
func TestAuthMalformedClientID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		for _, id := range []string{"Token:\x00", "Token:\xff", "\x00", "User:" + strings.TrimPrefix(f.admin.ClientID, "Token:"), "Token:not-a-uuid"} {
			req, _ := http.NewRequest("GET", f.srv.URL+"/tokens", nil)
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+f.admin.ClientSecret)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body map[string]any
			_ = json.Unmarshal(b, &body)
			wantError(t, resp.StatusCode, body, 401, "UNAUTHORIZED")
		}
	})
}

func TestCreateTokenValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"malformed", "application/json", `{"name":`, 400, "INVALID_REQUEST_FORMAT"},
		{"syntax", "application/json", `{"name" "x"}`, 400, "INVALID_REQUEST_FORMAT"},
		{"empty", "application/json", ``, 400, "INVALID_REQUEST_FORMAT"},
		{"two values", "application/json", `{"name":"a","permissions":["VIEW"]} {}`, 400, "INVALID_REQUEST_FORMAT"},
		{"wrong type", "application/json", `{"name":7,"permissions":["VIEW"]}`, 400, "INVALID_INPUT"},
		{"unknown field", "application/json", `{"name":"a","permissions":["VIEW"],"admin":true}`, 400, "INVALID_INPUT"},
		{"no content type", "", `{"name":"a","permissions":["VIEW"]}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"form", "application/x-www-form-urlencoded", `name=a`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"bad permission", "application/json", `{"name":"a","permissions":["ROOT"]}`, 400, "INVALID_INPUT"},
		{"no permission", "application/json", `{"name":"a","permissions":[]}`, 400, "INVALID_INPUT"},
		{"no name", "application/json", `{"name":"  ","permissions":["VIEW"]}`, 400, "INVALID_INPUT"},
		// Go keeps the last of repeated keys, matched case-insensitively: a
		// body two parsers may read differently is refused.
		{"duplicate key", "application/json", `{"name":"a","permissions":["VIEW"],"name":"b"}`, 400, "INVALID_REQUEST_FORMAT"},
		{"duplicate key in other case", "application/json", `{"name":"a","permissions":["VIEW"],"Permissions":["MANAGE"]}`, 400, "INVALID_REQUEST_FORMAT"},
		{"NUL in name", "application/json", `{"name":"a\u0000b","permissions":["VIEW"]}`, 400, "INVALID_INPUT"},
		{"newline in name", "application/json", `{"name":"a\nforged log line","permissions":["VIEW"]}`, 400, "INVALID_INPUT"},
		{"oversized", "application/json", `{"name":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413, "REQUEST_TOO_LARGE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := f.do(t, "POST", "/tokens", &f.admin, c.ct, c.body)
			wantError(t, st, body, c.status, c.code)
		})
	}
	st, body := f.do(t, "POST", "/tokens", &f.admin, "application/json; charset=utf-8", `{"name":"ok","permissions":["view","MANAGE","VIEW"]}`)
	if st != 201 || body["clientSecret"] == "" || fmt.Sprint(body["permissions"]) != "[VIEW MANAGE]" {
		t.Fatalf("create: %d %v", st, body)
	}
	// The new credential works.
	tok := auth.CreatedToken{ClientID: body["clientId"].(string), ClientSecret: body["clientSecret"].(string)}
	if st, _ := f.do(t, "GET", "/tokens", &tok, "", ""); st != 200 {
		t.Fatalf("new token: %d", st)
	}
}

// TestCreateTokenNoEscalation: a token can only grant what it holds, so a
// MANAGE token without TRANSACT cannot mint itself a way to move money.
func TestCreateTokenNoEscalation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	m, err := f.tokens.Create(context.Background(), "manager", []vaspd.Permission{vaspd.PermManage})
	if err != nil {
		t.Fatal(err)
	}
	for _, perms := range []string{`["TRANSACT"]`, `["VIEW","TRANSACT"]`, `["MANAGE","transact"]`} {
		st, body := f.do(t, "POST", "/tokens", &m, "application/json", `{"name":"x","permissions":`+perms+`}`)
		wantError(t, st, body, 403, "FORBIDDEN")
	}
	// What it holds (MANAGE implies VIEW) it may grant.
	for _, perms := range []string{`["VIEW"]`, `["MANAGE"]`, `["VIEW","MANAGE"]`} {
		if st, body := f.do(t, "POST", "/tokens", &m, "application/json", `{"name":"x","permissions":`+perms+`}`); st != 201 {
			t.Fatalf("%s: %d %v", perms, st, body)
		}
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	for i := 0; i < 5; i++ {
		if _, err := f.tokens.Create(context.Background(), fmt.Sprintf("t%d", i), []vaspd.Permission{vaspd.PermView}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	path := "/tokens?limit=3"
	pages := 0
	for {
		st, body := f.do(t, "GET", path, &f.admin, "", "")
		if st != 200 {
			t.Fatalf("%d %v", st, body)
		}
		pages++
		for _, d := range body["data"].([]any) {
			id := d.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("token %s listed twice", id)
			}
			seen[id] = true
		}
		if body["hasMore"] != true {
			break
		}
		path = "/tokens?limit=3&cursor=" + body["nextCursor"].(string)
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("saw %d tokens over %d pages", len(seen), pages)
	}
	// "AA" decodes to a NUL byte, which PostgreSQL cannot even compare.
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=***", "cursor=AA", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte("Token:\n"))} {
		st, body := f.do(t, "GET", "/tokens?"+q, &f.admin, "", "")
		wantError(t, st, body, 400, "INVALID_INPUT")
	}
}

func TestPanicsAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), func(s *api.Server) {
		s.Handle("GET /boom", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error { panic("kaboom") })
		s.Handle("GET /fail", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error {
			return fmt.Errorf("database password=hunter2 exploded")
		})
	})
	st, body := f.do(t, "GET", "/boom", &f.admin, "", "")
	wantError(t, st, body, 500, "INTERNAL_ERROR")
	st, body = f.do(t, "GET", "/fail", &f.admin, "", "")
	wantError(t, st, body, 500, "INTERNAL_ERROR")
	if strings.Contains(fmt.Sprint(body), "hunter2") {
		t.Fatal("internal error cause leaked to the client")
	}
	st, body = f.do(t, "GET", "/nope", nil, "", "")
	wantError(t, st, body, 404, "NOT_FOUND")
	// A known path with the wrong method is a 405 naming the right ones,
	// before any authentication (the route does not exist for it).
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/tokens", "GET, HEAD, POST"},
		{"POST", "/tokens/" + f.admin.ClientID, "DELETE, GET, HEAD"},
		{"PATCH", "/boom", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(c.method, f.srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		wantError(t, resp.StatusCode, m, 405, "METHOD_NOT_ALLOWED")
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	st, body = f.do(t, "GET", "/healthz", nil, "", "")
	if st != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", st, body)
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	for in, keep := range map[string]bool{"abc-123": true, "bad id;drop": false, strings.Repeat("a", 65): false} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/healthz", nil)
		req.Header.Set("X-Request-Id", in)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if (got == in) != keep || got == "" {
			t.Errorf("X-Request-Id %q -> %q", in, got)
		}
	}
}

// TestDeleteLastManageToken: the API refuses (409) to delete the last token
// holding MANAGE, itself included, which would lock the platform out of its
// own API; with another manager left, a token may delete itself, and the
// request doing so completes.
func TestDeleteLastManageToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// Each round's loser is refused as the deleted token it now is,
		// a failed authentication: unlimited, as the rounds are many.
		f := newFixtureOpts(t, db, func(o *api.Options) { o.AuthFailuresPerMinute = -1 }, nil, nil)
		ctx := context.Background()
		st, body := f.do(t, "DELETE", "/tokens/"+f.admin.ClientID, &f.admin, "", "")
		wantError(t, st, body, 409, "CONFLICT")
		if msg, _ := body["message"].(string); !strings.Contains(msg, "last one with the MANAGE permission") {
			t.Fatalf("message: %q", msg)
		}
		// Deleting a token without MANAGE is no concern.
		if st, body := f.do(t, "DELETE", "/tokens/"+f.viewer.ClientID, &f.admin, "", ""); st != 204 {
			t.Fatalf("delete the viewer: %d %v", st, body)
		}
		// With another manager, a token deletes itself; it then stops working.
		m, err := f.tokens.Create(ctx, "manager", []vaspd.Permission{vaspd.PermManage})
		if err != nil {
			t.Fatal(err)
		}
		if st, body := f.do(t, "DELETE", "/tokens/"+f.admin.ClientID, &f.admin, "", ""); st != 204 {
			t.Fatalf("self-delete with another manager left: %d %v", st, body)
		}
		st, body = f.do(t, "GET", "/tokens", &f.admin, "", "")
		wantError(t, st, body, 401, "UNAUTHORIZED")
		st, body = f.do(t, "DELETE", "/tokens/"+m.ClientID, &m, "", "")
		wantError(t, st, body, 409, "CONFLICT")

		// Two managers deleting each other at once: one of them stays.
		for round := 0; round < 10; round++ {
			a, err := f.tokens.Create(ctx, "a", []vaspd.Permission{vaspd.PermManage})
			if err != nil {
				t.Fatal(err)
			}
			b, err := f.tokens.Create(ctx, "b", vaspd.AllPermissions)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.tokens.Delete(ctx, m.ClientID); err != nil { // the CLI may
				t.Fatal(err)
			}
			done := make(chan int, 2)
			for _, p := range [][2]auth.CreatedToken{{a, b}, {b, a}} {
				go func() {
					req, _ := http.NewRequest("DELETE", f.srv.URL+"/tokens/"+p[1].ClientID, nil)
					req.SetBasicAuth(p[0].ClientID, p[0].ClientSecret)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						done <- 0
						return
					}
					resp.Body.Close()
					done <- resp.StatusCode
				}()
			}
			got := []int{<-done, <-done}
			left := 0
			for _, tok := range []auth.CreatedToken{a, b} {
				if _, err := f.tokens.Get(ctx, tok.ClientID); err == nil {
					left++
					m = tok
				}
			}
			if left != 1 {
				t.Fatalf("round %d: %d managers left (answers %v)", round, left, got)
			}
		}
	})
}

// TestAuthMalformedHeader: an Authorization header that is there but
// cannot be read (another scheme, bad or unpadded base64, no colon, over
// the length limit) is a 401 UNAUTHORIZED with WWW-Authenticate, as a
// missing one is, but its message says what is wrong instead of claiming
// no credentials were sent, and never echoes the header.
func TestAuthMalformedHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	raw := f.admin.ClientID + ":" + f.admin.ClientSecret
	enc := base64.StdEncoding.EncodeToString([]byte(raw))
	for name, h := range map[string]string{
		"bearer":      "Bearer " + f.admin.ClientSecret,
		"unpadded":    "Basic " + strings.TrimRight(enc, "="),
		"not base64":  "Basic " + f.admin.ClientSecret + "!",
		"no colon":    "Basic " + base64.StdEncoding.EncodeToString([]byte(f.admin.ClientSecret)),
		"no id":       "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+f.admin.ClientSecret)),
		"too long":    "Basic " + base64.StdEncoding.EncodeToString([]byte(raw+strings.Repeat("x", 1024))),
		"scheme only": "Basic",
	} {
		t.Run(name, func(t *testing.T) {
			st, body, hdr := f.send(t, "GET", "/tokens", nil, "", "", "Authorization", h)
			wantError(t, st, body, 401, "UNAUTHORIZED")
			msg, _ := body["message"].(string)
			if strings.Contains(msg, "missing") || strings.Contains(msg, f.admin.ClientSecret) || strings.Contains(msg, enc) {
				t.Errorf("message %q", msg)
			}
			if hdr.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
	st, body, hdr := f.send(t, "GET", "/tokens", nil, "", "")
	wantError(t, st, body, 401, "UNAUTHORIZED")
	if msg, _ := body["message"].(string); !strings.Contains(msg, "missing") || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %q %v", msg, hdr)
	}
}

// TestAuthSeveralHeaders: a request with more than one Authorization
// header is a 401, whichever of them is right. Authorization is a
// singleton field (RFC 9110): a proxy before vaspd that reads the last one
// and vaspd the first would each take another credential for the request.
func TestAuthSeveralHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	basic := func(tok auth.CreatedToken) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(tok.ClientID+":"+tok.ClientSecret))
	}
	for name, hs := range map[string][]string{
		"right, then wrong":  {basic(f.admin), "Basic Zm9vOmJhcg=="},
		"wrong, then right":  {"Basic Zm9vOmJhcg==", basic(f.admin)},
		"viewer, then admin": {basic(f.viewer), basic(f.admin)},
		"admin twice":        {basic(f.admin), basic(f.admin)},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.srv.URL+"/tokens", nil)
			for _, h := range hs {
				req.Header.Add("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			wantError(t, resp.StatusCode, body, 401, "UNAUTHORIZED")
			if msg, _ := body["message"].(string); !strings.Contains(msg, "one Authorization header") {
				t.Errorf("message %q", msg)
			}
		})
	}
	// The right one alone still works.
	if st, body := f.do(t, "GET", "/tokens", &f.admin, "", ""); st != 200 {
		t.Fatalf("one header: %d %v", st, body)
	}
}

// TestTokenListDateFilters: GET /tokens applies UMAaaS's createdAfter,
// createdBefore, updatedAfter and updatedBefore (inclusive, as GET /users):
// each list is exactly the tokens whose dates fall in the range.
func TestTokenListDateFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		for i := range 3 {
			time.Sleep(2 * time.Millisecond) // distinct creation times
			if _, err := f.tokens.Create(context.Background(), fmt.Sprintf("t%d", i), []vaspd.Permission{vaspd.PermView}); err != nil {
				t.Fatal(err)
			}
		}
		type tok struct {
			ID                   string
			CreatedAt, UpdatedAt time.Time
		}
		list := func(q string) []tok {
			t.Helper()
			st, body := f.do(t, "GET", "/tokens?limit=100&"+q, &f.admin, "", "")
			if st != 200 {
				t.Fatalf("?%s: %d %v", q, st, body)
			}
			b, _ := json.Marshal(body["data"])
			var out []tok
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		all := list("")
		if len(all) < 4 {
			t.Fatalf("%d tokens", len(all))
		}
		mid := all[1] // newest first: the second newest
		for _, c := range []struct {
			param string
			in    func(x tok) bool
		}{
			{"createdAfter", func(x tok) bool { return !x.CreatedAt.Before(mid.CreatedAt) }},
			{"createdBefore", func(x tok) bool { return !x.CreatedAt.After(mid.CreatedAt) }},
			{"updatedAfter", func(x tok) bool { return !x.UpdatedAt.Before(mid.UpdatedAt) }},
			{"updatedBefore", func(x tok) bool { return !x.UpdatedAt.After(mid.UpdatedAt) }},
		} {
			at := mid.CreatedAt
			if strings.HasPrefix(c.param, "updated") {
				at = mid.UpdatedAt
			}
			var want []string
			for _, x := range all {
				if c.in(x) {
					want = append(want, x.ID)
				}
			}
			var got []string
			for _, x := range list(c.param + "=" + url.QueryEscape(at.Format(time.RFC3339Nano))) {
				got = append(got, x.ID)
			}
			if !slices.Equal(got, want) || len(got) == 0 || len(got) == len(all) {
				t.Errorf("%s=%s: %v, want %v (of %d)", c.param, at.Format(time.RFC3339Nano), got, want, len(all))
			}
			st, body := f.do(t, "GET", "/tokens?"+c.param+"=yesterday", &f.admin, "", "")
			wantError(t, st, body, 400, "INVALID_INPUT")
		}
	})
}
