package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestAuthFailuresBehindTrustedProxy: behind a trusted reverse proxy each
// client is the address its X-Forwarded-For names, so one client's failed
// authentications throttle it alone, not every client of the proxy. A
// forged X-Forwarded-For from a peer that is no trusted proxy changes
// nothing: that peer is limited by its own address, whatever it claims.
func TestAuthFailuresBehindTrustedProxy(t *testing.T) {
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
		wrong := auth.CreatedToken{ClientID: admin.ClientID, ClientSecret: "wrong"}
		var logs lockedBuffer
		const limit = 3
		serve := func(trusted ...string) string {
			var ps []netip.Prefix
			for _, e := range trusted {
				ps = append(ps, netip.MustParsePrefix(e))
			}
			s := api.New(api.Options{Tokens: tokens, Audit: audit.New(db, nil), AuthFailuresPerMinute: limit, TrustedProxies: ps,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			srv := httptest.NewServer(s.Handler())
			t.Cleanup(srv.Close)
			return srv.URL
		}
		call := func(url string, c *http.Client, tok *auth.CreatedToken, xff ...string) int {
			t.Helper()
			req, _ := http.NewRequest("GET", url+"/tokens", nil)
			req.SetBasicAuth(tok.ClientID, tok.ClientSecret)
			for _, v := range xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		want := func(what string, got, want int) {
			t.Helper()
			if got != want {
				t.Fatalf("%s: %d, want %d", what, got, want)
			}
		}
		url := serve("127.0.0.2/32")
		proxy, direct := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")

		// Client A, behind the proxy, fails until throttled.
		for range limit {
			want("client A fails", call(url, proxy, &wrong, "198.51.100.1"), 401)
		}
		want("client A throttled", call(url, proxy, &admin, "203.0.113.9, 198.51.100.1"), 429)
		if !strings.Contains(logs.String(), `"client":"198.51.100.1"`) {
			t.Fatalf("the throttling is not logged with client A's address:\n%s", logs.String())
		}
		// Client B, behind the same proxy, is not.
		want("client B", call(url, proxy, &admin, "198.51.100.2"), 200)
		want("client B fails", call(url, proxy, &wrong, "198.51.100.2"), 401)
		// Nor is the proxy's own request.
		want("the proxy itself", call(url, proxy, &admin), 200)

		// A peer that is no trusted proxy is its own client: naming the
		// throttled client A changes nothing for it...
		want("untrusted peer naming A", call(url, direct, &admin, "198.51.100.1"), 200)
		// ...and naming a new client on every failure does not spread
		// its failures.
		for i := range limit {
			want("untrusted peer fails", call(url, direct, &wrong, fmt.Sprintf("192.0.2.%d", i+1)), 401)
		}
		want("untrusted peer throttled", call(url, direct, &admin, "192.0.2.99"), 429)
		want("client B after the untrusted peer", call(url, proxy, &admin, "198.51.100.2"), 200)

		// Without trusted proxies (the default) the header is ignored:
		// every client of a proxy is the proxy.
		url = serve()
		for i := range limit {
			want("fails through an untrusted proxy", call(url, proxy, &wrong, fmt.Sprintf("198.51.100.%d", i+1)), 401)
		}
		want("another client of the untrusted proxy", call(url, proxy, &admin, "198.51.100.50"), 429)
	})
}

// TestRequestLogNamesClient: every request's "http request" log line names
// its client address (platform routes, public ones like UMA's, unknown
// paths alike): behind a trusted proxy the client its X-Forwarded-For
// names, from any other peer the peer, whatever header it forges; a peer
// that is no IP:port by its RemoteAddr, truncated.
func TestRequestLogNamesClient(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	s := api.New(api.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	// Without Tokens a platform route answers 503: logged all the same.
	s.Handle("GET /platform", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error { return nil })
	s.HandlePublic("GET /.well-known/lnurlp/{user}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	proxy, direct := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")

	// logged is the client attribute of the request id's log line.
	logged := func(id string) any {
		t.Helper()
		for line := range strings.Lines(logs.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if m["msg"] == "http request" && m["request_id"] == id {
				return m["client"]
			}
		}
		t.Fatalf("no http request log line for %s:\n%s", id, logs.String())
		return nil
	}
	n := 0
	for _, path := range []string{"/platform", "/.well-known/lnurlp/alice", "/nope", "/healthz"} {
		for _, c := range []struct {
			name   string
			client *http.Client
			xff    []string
			want   string
		}{
			{"through the trusted proxy", proxy, []string{"198.51.100.1, 127.0.0.2"}, "198.51.100.1"},
			{"IPv6 client through the trusted proxy", proxy, []string{"2001:db8::1:2"}, "2001:db8::1:2"},
			{"the trusted proxy itself", proxy, nil, "127.0.0.2"},
			{"untrusted peer, forged header", direct, []string{"198.51.100.1"}, "127.0.0.1"},
		} {
			n++
			id := fmt.Sprintf("req-%d", n)
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Header.Set("X-Request-Id", id)
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			resp, err := c.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := logged(id); got != c.want {
				t.Errorf("%s %s: client %v, want %s", path, c.name, got, c.want)
			}
		}
	}

	// A listener other than TCP: the peer's text stands for the client.
	for peer, want := range map[string]string{"@": "@", strings.Repeat("x", 300): strings.Repeat("x", 100) + "…"} {
		n++
		id := fmt.Sprintf("req-%d", n)
		req := httptest.NewRequest("GET", "/.well-known/lnurlp/alice", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Request-Id", id)
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		if got := logged(id); got != want {
			t.Errorf("peer %.10q: client %v, want %s", peer, got, want)
		}
	}
}
