package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
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
		{"PUT", "/tokens", &f.admin, ""},   // 405: a platform route, another method
		{"GET", "/tokenz", &f.admin, ""},   // 404: no route, the platform's error JSON all the same
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

// TestJSONTypeErrorsSpeakJSON: a value of the wrong JSON type is named in
// JSON's words (a string, an integer, an array, an object), never by the
// Go type it was to be decoded into: "api.createTokenRequest" or
// "[]string" tell a client nothing and leak how the server is built.
func TestJSONTypeErrorsSpeakJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), nil)
	for body, want := range map[string]string{
		`[]`:                                "request body must be a JSON object",
		`"x"`:                               "request body must be a JSON object",
		`{"name":["a"]}`:                    `field "name" must be a string`,
		`{"name":"x","permissions":"VIEW"}`: `field "permissions" must be an array`,
	} {
		st, m := f.do(t, "POST", "/tokens", &f.admin, "application/json", body)
		wantError(t, st, m, 400, "INVALID_INPUT")
		if msg, _ := m["message"].(string); msg != want {
			t.Errorf("%s: message %q, want %q", body, msg, want)
		}
	}
}

func TestJSONTypeErrorsSpeakJSONForAmounts(t *testing.T) {
	t.Parallel()
	type body struct {
		Amount int64 `json:"amount"`
		Count  int64 `json:"count"`
		Ok     bool  `json:"ok"`
	}
	for in, want := range map[string]string{
		`{"amount":1.5}`:                  `field "amount" must be an integer`,
		`{"amount":1e3}`:                  `field "amount" must be an integer`,
		`{"amount":"5"}`:                  `field "amount" must be an integer`,
		`{"amount":9223372036854775808}`:  `amount must be from 1 to 9000000000000000, in the currency's smallest unit (9223372036854775808 is out of range)`,
		`{"amount":-9223372036854775809}`: `amount must be from 1 to 9000000000000000, in the currency's smallest unit (-9223372036854775809 is out of range)`,
		`{"count":9223372036854775808}`:   `field "count" must be an integer in range (9223372036854775808 is out of range)`,
		`{"count":-9223372036854775809}`:  `field "count" must be an integer in range (-9223372036854775809 is out of range)`,
		`{"ok":"yes"}`:                    `field "ok" must be true or false`,
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(in))
		r.Header.Set("Content-Type", "application/json")
		var v body
		err := api.DecodeJSON(r, &v)
		if e := vaspd.AsError(err); e.Status != 400 || e.Message != want {
			t.Errorf("%s: %v, want 400 %q", in, err, want)
		}
	}
}

// TestPanicAfterTheAnswerBegan: a handler that panics after writing part
// of its answer cannot be answered 500 any more; the connection is cut, so
// the client sees a broken answer, not a short one that looks whole.
func TestPanicAfterTheAnswerBegan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storetest.SQLite(t), func(s *api.Server) {
		s.Handle("GET /half", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data":[`))
			w.(http.Flusher).Flush()
			panic("kaboom")
		})
	})
	req, _ := http.NewRequest("GET", f.srv.URL+"/half", nil)
	req.SetBasicAuth(f.admin.ClientID, f.admin.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("a panic mid-answer gave a complete-looking answer: %d %q", resp.StatusCode, b)
	}
}

// blockingCollector holds every Collect until release is closed, counting
// those that entered.
type blockingCollector struct {
	entered chan struct{}
	release chan struct{}
}

func (c blockingCollector) Describe(chan<- *prometheus.Desc) {}

func (c blockingCollector) Collect(chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
}

// TestMetricsScrapesBounded: /metrics serves at most a few scrapes at once
// and answers the next 503 at once, rather than gathering and encoding
// every series for however many requests arrive: with metrics-public the
// route is open to anyone, unthrottled.
func TestMetricsScrapesBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := blockingCollector{entered: make(chan struct{}, 100), release: make(chan struct{})}
	reg.MustRegister(c)
	srv := httptest.NewServer(api.New(api.Options{PublicMetrics: true, Registry: reg}).Handler())
	t.Cleanup(srv.Close)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(c.release) }) }
	t.Cleanup(release) // before srv.Close, which waits for the held scrapes
	// A scrape that would wait for the held ones is cut short (a status
	// of 0, the test failing) rather than hanging the test.
	client := &http.Client{Timeout: 10 * time.Second}
	scrape := func() int {
		resp, err := client.Get(srv.URL + "/metrics")
		if err != nil {
			t.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const held = 4
	statuses := make(chan int, held)
	for range held {
		go func() { statuses <- scrape() }()
	}
	for range held {
		select {
		case <-c.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the scrapes did not all start")
		}
	}
	if st := scrape(); st != http.StatusServiceUnavailable {
		t.Errorf("a scrape beyond %d at once: %d, want 503", held, st)
	}
	release()
	for range held {
		if st := <-statuses; st != http.StatusOK {
			t.Errorf("a held scrape: %d, want 200", st)
		}
	}
	if st := scrape(); st != http.StatusOK {
		t.Errorf("a scrape once the others ended: %d, want 200", st)
	}
}
