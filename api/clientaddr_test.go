package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
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
			s := api.New(api.Options{Tokens: tokens, AuthFailuresPerMinute: limit, TrustedProxies: ps,
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
