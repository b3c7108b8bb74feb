package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// umaSend sends a request to f's UMA endpoints from c and returns the
// response with its body read; headers are name, value pairs.
func umaSend(t *testing.T, f *payFixture, c *http.Client, method, path, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// umaCounted are requests the UMA request limit counts, one of each kind
// of limited route; none is throttled by its own content.
var umaCounted = []struct{ method, path, body string }{
	{"GET", "/.well-known/lnurlp/bob", ""},
	{"GET", "/.well-known/lnurlp/nobody", ""},
	{"GET", "/api/uma/payreq/bob?amount=x", ""},
	{"POST", "/api/uma/payreq/bob", "{}"},
	{"POST", "/api/uma/utxoCallback?txid=x", "{}"},
	{"POST", "/api/uma/request_pay", `{"invoice":"uma1x"}`},
	{"GET", "/api/uma/nothing", ""},
}

// wantThrottled checks a throttled UMA answer: 429, Retry-After of
// retryAfter seconds, and UMA's error JSON with no code (UMA's table has
// none for it, and one an SDK does not know could be mis-handled), with
// the UMA endpoints' CORS and nosniff headers.
func wantThrottled(t *testing.T, what string, resp *http.Response, raw []byte, retryAfter string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s: %d %s, want 429 and UMA error JSON", what, resp.StatusCode, raw)
	}
	want := "too many requests from your address: retry after " + retryAfter + " s"
	if len(m) != 2 || m["status"] != "ERROR" || m["reason"] != want {
		t.Fatalf("%s: body %s, want {\"status\":\"ERROR\",\"reason\":%q}", what, raw, want)
	}
	// A vaspd sender reads it as a counterparty's error (LNURL's shape).
	if e, ok := uma.ParseErrorBody(raw); !ok || e.Code != "" || e.Reason != want {
		t.Fatalf("%s: uma.ParseErrorBody(%s) = %+v, %v", what, raw, e, ok)
	}
	if got := resp.Header.Get("Retry-After"); got != retryAfter {
		t.Fatalf("%s: Retry-After %q, want %q", what, got, retryAfter)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%s: headers %v", what, resp.Header)
	}
}

// umaThrottledTotal is vaspd_uma_throttled_total in reg (-1 when absent).
func umaThrottledTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vaspd_uma_throttled_total" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// TestUMARequestsThrottled: with the default limit, a client may send a
// burst of twice the rate to the UMA endpoints, then is answered 429 with
// Retry-After and UMA's error JSON on every limited route, without its
// body being read, until it has waited; CORS preflights and the static
// documents are never counted nor limited, and another address is its own
// client. The throttling is logged once per client, naming its address and
// nothing of the requests, and counted in vaspd_uma_throttled_total.
func TestUMARequestsThrottled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		var logs lockedBuffer
		reg := prometheus.NewRegistry()
		f := newPayFixtureAPI(t, db, nil, nil, func(o *api.Options) {
			o.Clock, o.Registry = clock, reg
			o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		})
		a, b := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
		notCounted := func(c *http.Client) {
			t.Helper()
			for _, p := range []string{"/api/uma/payreq/bob", "/.well-known/lnurlp/bob", "/api/uma/request_pay"} {
				if resp, raw := umaSend(t, f, c, "OPTIONS", p, ""); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("preflight of %s: %d %s", p, resp.StatusCode, raw)
				}
			}
			for _, p := range []string{"/.well-known/lnurlpubkey", "/.well-known/uma-configuration"} {
				if resp, raw := umaSend(t, f, c, "GET", p, ""); resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %s", p, resp.StatusCode, raw)
				}
			}
		}
		burst := func(what string) {
			t.Helper()
			for i := range 2 * api.DefaultUMARequestsPerSecond {
				r := umaCounted[i%len(umaCounted)]
				if resp, raw := umaSend(t, f, a, r.method, r.path, r.body); resp.StatusCode == http.StatusTooManyRequests {
					t.Fatalf("%s: request %d (%s %s) of the burst throttled: %s", what, i+1, r.method, r.path, raw)
				}
				if i%10 == 0 {
					notCounted(a)
				}
			}
		}
		burst("first burst")
		throttled := 0
		for _, r := range umaCounted {
			resp, raw := umaSend(t, f, a, r.method, r.path, r.body)
			wantThrottled(t, r.method+" "+r.path, resp, raw, "1")
			throttled++
		}
		// A throttled POST's body is not read: one over the size limit is
		// 429, not 413.
		resp, raw := umaSend(t, f, a, "POST", "/api/uma/payreq/bob", strings.Repeat("x", 300<<10))
		wantThrottled(t, "a throttled POST over the size limit", resp, raw, "1")
		throttled++
		notCounted(a)
		if resp, raw := umaSend(t, f, b, "GET", "/.well-known/lnurlp/bob", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("another address: %d %s", resp.StatusCode, raw)
		}

		// One request more per interval (20 ms at 50/s), then the burst
		// once the bucket has refilled (2 s).
		clock.Advance(time.Second / api.DefaultUMARequestsPerSecond)
		if resp, raw := umaSend(t, f, a, "GET", "/.well-known/lnurlp/bob", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("after an interval: %d %s", resp.StatusCode, raw)
		}
		resp, raw = umaSend(t, f, a, "GET", "/.well-known/lnurlp/bob", "")
		wantThrottled(t, "the request after", resp, raw, "1")
		throttled++
		clock.Advance(2 * time.Second)
		burst("after the bucket refilled")
		resp, raw = umaSend(t, f, a, "GET", "/api/uma/payreq/bob?amount=1000", "")
		wantThrottled(t, "past the second burst", resp, raw, "1")
		throttled++

		var lines []map[string]any
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "throttling UMA requests") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, m)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("%d throttle log lines, want 1:\n%s", len(lines), logs.String())
		}
		// The client and the limit, nothing of the requests (path, user,
		// body): the attributes are exactly these.
		l := lines[0]
		if len(l) != 6 || l["level"] != "WARN" || l["client"] != "127.0.0.1" || l["retry_after_s"] != 1.0 ||
			l["requests_per_second"] != float64(api.DefaultUMARequestsPerSecond) || l["time"] == nil {
			t.Fatalf("throttle log line %v", l)
		}
		if got := umaThrottledTotal(t, reg); got != float64(throttled) {
			t.Fatalf("vaspd_uma_throttled_total %v, want %d", got, throttled)
		}
	})
}

// TestUMALimitBehindTrustedProxy: behind a trusted reverse proxy each
// client is the address its X-Forwarded-For names (an IPv6 one by its /64),
// so two clients of one proxy are limited separately, and neither throttles
// the proxy's own requests; a peer that is no trusted proxy is its own
// client, whatever address it names.
func TestUMALimitBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	clock := vaspd.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := newPayFixtureAPI(t, storetest.SQLite(t), nil, nil, func(o *api.Options) {
		o.Clock, o.UMARequestsPerSecond = clock, 1 // a burst of 2
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	})
	proxy, direct := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")
	status := func(c *http.Client, xff ...string) int {
		t.Helper()
		var headers []string
		for _, v := range xff {
			headers = append(headers, "X-Forwarded-For", v)
		}
		resp, _ := umaSend(t, f, c, "GET", "/.well-known/lnurlp/bob", "", headers...)
		return resp.StatusCode
	}
	want := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d", what, got, want)
		}
	}
	want("client A", status(proxy, "198.51.100.1"), 200)
	want("client A", status(proxy, "203.0.113.9, 198.51.100.1"), 200)
	want("client A past its burst", status(proxy, "198.51.100.1"), 429)
	want("client B of the same proxy", status(proxy, "198.51.100.2"), 200)
	want("the proxy itself", status(proxy), 200)
	want("an IPv6 client", status(proxy, "2001:db8:1:2::1"), 200)
	want("an IPv6 client", status(proxy, "2001:db8:1:2::2"), 200)
	want("another address of its /64", status(proxy, "[2001:db8:1:2::ffff]:443"), 429)
	want("another /64", status(proxy, "2001:db8:1:3::1"), 200)
	// An untrusted peer naming client B is itself, not client B.
	want("an untrusted peer", status(direct, "198.51.100.2"), 200)
	want("an untrusted peer", status(direct, "198.51.100.2"), 200)
	want("the untrusted peer past its burst", status(direct, "198.51.100.3"), 429)
	want("client B after the untrusted peer", status(proxy, "198.51.100.2"), 200)
}

// TestUMALimitOff: a negative UMARequestsPerSecond (vaspd serve's
// uma-rate-limit 0) limits nothing.
func TestUMALimitOff(t *testing.T) {
	t.Parallel()
	clock := vaspd.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := newPayFixtureAPI(t, storetest.SQLite(t), nil, nil, func(o *api.Options) {
		o.Clock, o.UMARequestsPerSecond = clock, -1
	})
	a := clientFrom("127.0.0.1")
	for i := range 2*2*api.DefaultUMARequestsPerSecond + 1 {
		r := umaCounted[i%len(umaCounted)]
		if resp, raw := umaSend(t, f, a, r.method, r.path, r.body); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d (%s %s) throttled with the limit off: %s", i+1, r.method, r.path, raw)
		}
	}
}
