package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestMetricsMethodLabelIsBounded: net/http accepts any token as a method,
// and every new value of a label is a new time series kept for the life of
// the process. A client inventing methods must not grow the metrics
// without bound: unknown methods share one label value.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := api.New(api.Options{Registry: reg})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	for i := range 50 {
		req, _ := http.NewRequestWithContext(context.Background(), fmt.Sprintf("X%d", i), srv.URL+"/nope", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vaspd_http_request_duration_seconds" && len(mf.GetMetric()) > 2 {
			t.Errorf("50 invented methods made %d latency series, want at most 2", len(mf.GetMetric()))
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && strings.HasPrefix(l.GetValue(), "X") {
					t.Fatalf("an invented method reached a label: %s", l.GetValue())
				}
			}
		}
	}
}

// TestPlatformResponsesAreNotStored: platform API answers carry user data
// and, for POST /tokens, a secret shown once: no cache (a proxy's, a
// browser's) may keep them, whatever their status. The public operations
// endpoints are not platform data and are left alone.
func TestPlatformResponsesAreNotStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	for _, c := range []struct {
		method, path string
		tok          *auth.CreatedToken
		body         string
	}{
		{"GET", "/tokens", &f.admin, ""},
		{"POST", "/tokens", &f.admin, `{"name":"x","permissions":["VIEW"]}`},
		{"GET", "/tokens", nil, ""},        // 401
		{"GET", "/tokens", &f.viewer, ""},  // 403
		{"POST", "/tokens", &f.admin, `{`}, // 400
	} {
		st, _, h := f.send(t, c.method, c.path, c.tok, "application/json", c.body)
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s (%d): Cache-Control %q, want no-store", c.method, c.path, st, got)
		}
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s (%d): the platform API must not allow other origins", c.method, c.path, st)
		}
	}
}

// TestMetricsNeedAToken: /metrics tells anyone who can read it the
// business's volumes (requests per route, payments, webhook backlog), so
// by default it is a platform endpoint like the others: Basic auth with
// VIEW, never cached. PublicMetrics serves it to anyone, for deployments
// whose network already keeps it private.
func TestMetricsNeedAToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	st, body, h := f.send(t, "GET", "/metrics", nil, "", "")
	wantError(t, st, body, 401, "UNAUTHORIZED")
	if h.Get("WWW-Authenticate") == "" {
		t.Error("a 401 without WWW-Authenticate")
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/metrics", nil)
	req.SetBasicAuth(f.viewer.ClientID, f.viewer.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "vaspd_http_request_duration_seconds") {
		t.Fatalf("/metrics with a VIEW token: %d %.200s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("/metrics: Cache-Control %q, want no-store", got)
	}

	public := httptest.NewServer(api.New(api.Options{PublicMetrics: true}).Handler())
	t.Cleanup(public.Close)
	resp, err = http.Get(public.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics with PublicMetrics: %d", resp.StatusCode)
	}
}
