package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// lockedBuffer is a log destination the server's goroutines write to while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all loopback on Linux), so one server sees
// two clients.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestAuthFailuresThrottled: failed Basic authentications from one
// address are allowed in a small burst, then answered 429 with Retry-After
// and the error JSON without the credentials being checked (a right secret
// too), until the bucket refills. Another address, and successes, are not
// throttled; the throttling is logged once per window, without the secret.
func TestAuthFailuresThrottled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tokens, err := auth.NewTokens(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := tokens.Create(ctx, "admin", vaspd.AllPermissions)
		if err != nil {
			t.Fatal(err)
		}
		clock := vaspd.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		var logs lockedBuffer
		s := api.New(api.Options{Tokens: tokens, Audit: audit.New(db, nil), Clock: clock, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		const wrongSecret = "wrong-secret-never-logged"
		wrong := auth.CreatedToken{ClientID: admin.ClientID, ClientSecret: wrongSecret}
		local := clientFrom("127.0.0.1")
		call := func(c *http.Client, tok *auth.CreatedToken) (int, map[string]any, http.Header) {
			t.Helper()
			if c == nil {
				c = local
			}
			req, _ := http.NewRequest("GET", srv.URL+"/tokens", nil)
			if tok != nil {
				req.SetBasicAuth(tok.ClientID, tok.ClientSecret)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, m, resp.Header
		}
		throttleLines := func() int { return strings.Count(logs.String(), "throttling failed") }

		// Successes are never counted: a busy platform is not throttled.
		for range 3 * api.DefaultAuthFailuresPerMinute {
			if st, m, _ := call(nil, &admin); st != 200 {
				t.Fatalf("success: %d %v", st, m)
			}
		}
		for i := range api.DefaultAuthFailuresPerMinute {
			st, m, _ := call(nil, &wrong)
			wantError(t, st, m, 401, vaspd.CodeUnauthorized)
			if i == 4 { // a success between failures neither counts nor resets
				if st, m, _ := call(nil, &admin); st != 200 {
					t.Fatalf("success: %d %v", st, m)
				}
			}
		}
		for _, tok := range []*auth.CreatedToken{&wrong, &admin, nil} {
			st, m, h := call(nil, tok)
			wantError(t, st, m, 429, vaspd.CodeTooManyAuthFailures)
			if h.Get("Retry-After") != "6" { // one attempt more per 60/10 s
				t.Fatalf("Retry-After %q", h.Get("Retry-After"))
			}
		}
		if n := throttleLines(); n != 1 {
			t.Fatalf("%d throttle log lines, want 1:\n%s", n, logs.String())
		}
		if strings.Contains(logs.String(), wrongSecret) {
			t.Fatal("the log holds the secret")
		}

		// Another address is its own client.
		other := clientFrom("127.0.0.2")
		if st, m, _ := call(other, &admin); st != 200 {
			t.Fatalf("other address: %d %v", st, m)
		}
		st, m, _ := call(other, &wrong)
		wantError(t, st, m, 401, vaspd.CodeUnauthorized)

		// One attempt more per interval.
		clock.Advance(5 * time.Second)
		st, m, h := call(nil, &admin)
		wantError(t, st, m, 429, vaspd.CodeTooManyAuthFailures)
		if h.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q", h.Get("Retry-After"))
		}
		clock.Advance(time.Second)
		st, m, _ = call(nil, &wrong)
		wantError(t, st, m, 401, vaspd.CodeUnauthorized)
		st, m, _ = call(nil, &wrong)
		wantError(t, st, m, 429, vaspd.CodeTooManyAuthFailures)
		if n := throttleLines(); n != 1 {
			t.Fatalf("%d throttle log lines within the window, want 1", n)
		}

		// A full window later the burst is back.
		clock.Advance(time.Minute)
		if st, m, _ := call(nil, &admin); st != 200 {
			t.Fatalf("after the window: %d %v", st, m)
		}
		for range api.DefaultAuthFailuresPerMinute {
			st, m, _ := call(nil, &wrong)
			wantError(t, st, m, 401, vaspd.CodeUnauthorized)
		}
		st, m, _ = call(nil, &wrong)
		wantError(t, st, m, 429, vaspd.CodeTooManyAuthFailures)
		if n := throttleLines(); n != 2 {
			t.Fatalf("%d throttle log lines after a second window, want 2", n)
		}
	})
}

// TestAuthFailuresUnlimited: a negative AuthFailuresPerMinute turns the
// limit off (vaspd serve's api-auth-failure-limit 0, behind a proxy that
// limits instead).
func TestAuthFailuresUnlimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tokens, err := auth.NewTokens(context.Background(), db, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := api.New(api.Options{Tokens: tokens, Audit: audit.New(db, nil), AuthFailuresPerMinute: -1})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		f := &fixture{srv: srv}
		wrong := auth.CreatedToken{ClientID: vaspd.NewID(vaspd.IDToken), ClientSecret: "x"}
		for range 3 * api.DefaultAuthFailuresPerMinute {
			st, m, _ := f.send(t, "GET", "/tokens", &wrong, "", "")
			wantError(t, st, m, 401, vaspd.CodeUnauthorized)
		}
	})
}
