package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// crossSite are the headers a browser adds to a form POST or fetch that a
// page of another site sends to vaspd.
var crossSite = []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}

// tokenGone reports whether the token id was deleted.
func tokenGone(t *testing.T, tokens *auth.Tokens, id string) bool {
	t.Helper()
	_, err := tokens.Get(context.Background(), id)
	var e *vaspd.Error
	if errors.As(err, &e) && e.Code == vaspd.CodeTokenNotFound {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

// TestCrossSiteRequestsRefused: a browser holding cached Basic credentials
// for vaspd sends them with a hostile page's cross-site POST or DELETE; the
// platform API refuses such a request with its error JSON before it does
// anything, and lets through what a browser marks same-origin, and what
// carries no browser header at all (a platform's server).
func TestCrossSiteRequestsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		victim := func() string {
			tok, err := f.tokens.Create(context.Background(), "victim", []vaspd.Permission{vaspd.PermView})
			if err != nil {
				t.Fatal(err)
			}
			return tok.ID
		}
		for _, tc := range []struct {
			name    string
			headers []string
		}{
			{"cross-site", crossSite},
			{"same-site", []string{"Sec-Fetch-Site", "same-site", "Origin", "https://dashboard.example"}},
			{"old browser, foreign Origin", []string{"Origin", "https://evil.example"}},
			{"null Origin", []string{"Origin", "null"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := victim()
				status, body, h := f.send(t, "DELETE", "/tokens/"+id, &f.admin, "", "", tc.headers...)
				wantError(t, status, body, 403, vaspd.CodeCrossOriginForbidden)
				if h.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
				}
				if tokenGone(t, f.tokens, id) {
					t.Fatal("the refused request deleted the token")
				}
				// Refused before the credentials are looked at: none, or
				// wrong ones, get the same answer.
				status, body, _ = f.send(t, "DELETE", "/tokens/"+id, nil, "", "", tc.headers...)
				wantError(t, status, body, 403, vaspd.CodeCrossOriginForbidden)
				status, body, _ = f.send(t, "POST", "/tokens", &f.admin, "application/json", `{"name":"x","permissions":["VIEW"]}`, tc.headers...)
				wantError(t, status, body, 403, vaspd.CodeCrossOriginForbidden)
			})
		}
		for _, tc := range []struct {
			name    string
			headers []string
		}{
			{"server to server", nil},
			{"same-origin", []string{"Sec-Fetch-Site", "same-origin", "Origin", f.srv.URL}},
			{"typed in the address bar", []string{"Sec-Fetch-Site", "none"}},
			{"old browser, own Origin", []string{"Origin", f.srv.URL}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := victim()
				status, body, _ := f.send(t, "DELETE", "/tokens/"+id, &f.admin, "", "", tc.headers...)
				if status != 204 {
					t.Fatalf("got %d %v", status, body)
				}
				if !tokenGone(t, f.tokens, id) {
					t.Fatal("token not deleted")
				}
			})
		}
		t.Run("safe methods pass", func(t *testing.T) {
			// A cross-site GET cannot change anything, and the page
			// cannot read the answer (no CORS header).
			status, body, h := f.send(t, "GET", "/tokens", &f.admin, "", "", crossSite...)
			if status != 200 || h.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("got %d %v %v", status, body, h)
			}
		})
	})
}

// TestCrossOriginTrusted: an origin named in Options.TrustedOrigins (a
// platform's dashboard on its own site) passes; others are still refused.
func TestCrossOriginTrusted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tokens, err := auth.NewTokens(context.Background(), db, nil)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := tokens.Create(context.Background(), "admin", vaspd.AllPermissions)
		if err != nil {
			t.Fatal(err)
		}
		// Written as an operator may: the browser sends it lower case,
		// without https's port and without a slash.
		s := api.New(api.Options{Tokens: tokens, Audit: audit.New(db, nil), TrustedOrigins: []string{"HTTPS://Dash.Example.com:443/"}})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		f := &fixture{srv: srv, tokens: tokens, admin: admin}
		body := `{"name":"x","permissions":["VIEW"]}`
		status, m, _ := f.send(t, "POST", "/tokens", &admin, "application/json", body,
			"Sec-Fetch-Site", "same-site", "Origin", "https://dash.example.com")
		if status != 201 {
			t.Fatalf("trusted origin: %d %v", status, m)
		}
		for _, o := range []string{"http://dash.example.com", "https://dash.example.com:8443", "https://evil.example"} {
			status, m, _ = f.send(t, "POST", "/tokens", &admin, "application/json", body, "Sec-Fetch-Site", "cross-site", "Origin", o)
			wantError(t, status, m, 403, vaspd.CodeCrossOriginForbidden)
		}
	})
}

func TestTrustedOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://dash.example.com":       "https://dash.example.com",
		"HTTPS://Dash.Example.COM/":      "https://dash.example.com",
		"https://dash.example.com:443":   "https://dash.example.com",
		"http://localhost:80":            "http://localhost",
		"http://localhost:3000":          "http://localhost:3000",
		"https://[2001:DB8::1]:8443":     "https://[2001:db8::1]:8443",
		"  https://dash.example.com  ":   "https://dash.example.com",
		"https://127.0.0.1:443":          "https://127.0.0.1",
		"http://dash.example.com:443":    "http://dash.example.com:443",
		"https://xn--bcher-kva.example/": "https://xn--bcher-kva.example",
	} {
		got, err := api.TrustedOrigin(in)
		if err != nil || got != want {
			t.Errorf("TrustedOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "null", "*", "dash.example.com", "ftp://dash.example.com", "https://", "https://dash.example.com/app",
		"https://dash.example.com?x=1", "https://dash.example.com#x", "https://user@dash.example.com",
		"https://*.example.com", "https://bücher.example", "https://dash.example.com:99999", "https://dash.example.com:",
		"https://dash.example.com/?", "https:dash.example.com",
	} {
		if got, err := api.TrustedOrigin(in); err == nil {
			t.Errorf("TrustedOrigin(%q) = %q, want an error", in, got)
		}
	}
}

// TestCrossSiteExecuteRefused: the payment a hostile page would start
// with an operator's cached credentials (a bodyless POST) is not made.
func TestCrossSiteExecuteRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 100)
		status, raw, _ := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "", crossSite...)
		wantAPIError(t, status, raw, 403, vaspd.CodeCrossOriginForbidden)
		status, raw, m := f.call(t, "GET", "/quotes/"+q, &f.admin, "")
		if status != 200 || m["status"] != "PENDING" || m["transactionId"] != "" {
			t.Fatalf("quote after the refused execute: %d %s", status, raw)
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE quote_id = $1`, q).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d transactions (%v)", n, err)
		}
		status, raw, _ = f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 {
			t.Fatalf("server-to-server execute: %d %s", status, raw)
		}
	})
}

// TestCrossOriginUMAUnaffected: the UMA endpoints are called by other
// VASPs and by browsers of any origin (LUD-01): they answer as they would
// without the browser headers, with their own error JSON and CORS.
func TestCrossOriginUMAUnaffected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, path := range []string{"/api/uma/payreq/bob", "/api/uma/utxoCallback?txid=x", "/api/uma/request_pay"} {
			plain, plainRaw, _ := f.call(t, "POST", path, nil, "{}")
			status, raw, _ := f.call(t, "POST", path, nil, "{}", crossSite...)
			if status != plain || string(raw) != string(plainRaw) || status == http.StatusForbidden {
				t.Errorf("POST %s cross-site: %d %s; without browser headers: %d %s", path, status, raw, plain, plainRaw)
			}
		}
		req, _ := http.NewRequest("OPTIONS", f.base+"/api/uma/payreq/bob", nil)
		req.Header.Set("Origin", "https://wallet.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})
}
