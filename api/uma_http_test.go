package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// umaDo sends a request to f and returns the response with its body read.
func umaDo(t *testing.T, f *payFixture, method, path, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestUMAAnswersAreNotSniffed: UMA's answers, errors included, are JSON
// that quotes what the caller sent (a user name, a path); like the platform
// API's they say X-Content-Type-Options: nosniff, so no browser takes them
// for anything but JSON.
func TestUMAAnswersAreNotSniffed(t *testing.T) {
	t.Parallel()
	f := newPayFixture(t, storetest.SQLite(t))
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/.well-known/lnurlp/bob", ""},
		{"GET", "/.well-known/lnurlp/%3Cscript%3E", ""},
		{"GET", "/api/uma/payreq/bob?amount=x", ""},
		{"POST", "/api/uma/request_pay", `{"invoice":"uma1x"}`},
		{"GET", "/api/uma/nothing", ""},
	} {
		resp, body := umaDo(t, f, c.method, c.path, "application/json", c.body)
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d %.100s): X-Content-Type-Options %q, want nosniff", c.method, c.path, resp.StatusCode, body, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, got)
		}
	}
}

// zeros is a 100 MB body of JSON-ish bytes that counts what was read (by
// the transport's goroutine, which may still be writing when the answer
// has come).
type zeros struct{ n atomic.Int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n.Load() >= 100<<20 {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = ' '
	}
	z.n.Add(int64(len(p)))
	return len(p), nil
}

// umaBodyEndpoints are the UMA endpoints that take a body, each with the
// code its refusals of one carry.
var umaBodyEndpoints = []struct {
	path string
	code uma.ErrorCode
}{
	{"/api/uma/payreq/bob", uma.CodeParsePayreqRequestError},
	{"/api/uma/utxoCallback?txid=x", uma.CodeParseUTXOCallbackError},
	{"/api/uma/request_pay", uma.CodeInvalidRequestFormat},
}

// TestUMABodyTooLarge: a body over an UMA endpoint's limit is a 413 (the
// request was refused for its size, not for its content) with UMA's error
// JSON, answered without reading the rest of a 100 MB body.
func TestUMABodyTooLarge(t *testing.T) {
	t.Parallel()
	f := newPayFixture(t, storetest.SQLite(t))
	for _, c := range umaBodyEndpoints {
		body := &zeros{}
		req, _ := http.NewRequest("POST", f.base+c.path, io.MultiReader(strings.NewReader(`{"a":"`), body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantUMAError(t, resp.StatusCode, raw, 413, c.code)
		if n := body.n.Load(); n >= 100<<20 || time.Since(start) > 10*time.Second {
			t.Errorf("%s: the server read %d bytes in %s before answering", c.path, n, time.Since(start))
		}
	}
}

// TestUMAMethods: an UMA endpoint asked with a method it does not serve
// answers 405 naming the ones it does (Allow), in UMA's error JSON with
// CORS, as a wrong path answers 404; a browser's CORS preflight (OPTIONS)
// is answered 204 with the methods and the Content-Type header allowed.
func TestUMAMethods(t *testing.T) {
	t.Parallel()
	f := newPayFixture(t, storetest.SQLite(t))
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/api/uma/payreq/bob", "GET, HEAD, POST"},
		{"DELETE", "/.well-known/lnurlp/bob", "GET, HEAD"},
		{"GET", "/api/uma/utxoCallback", "POST"},
		{"HEAD", "/api/uma/request_pay", "POST"},
		{"POST", "/.well-known/lnurlpubkey", "GET, HEAD"},
		{"FOO", "/.well-known/uma-configuration", "GET, HEAD"},
	} {
		resp, body := umaDo(t, f, c.method, c.path, "", "")
		if c.method == "HEAD" {
			if resp.StatusCode != 405 {
				t.Errorf("%s %s: %d, want 405", c.method, c.path, resp.StatusCode)
			}
		} else {
			wantUMAError(t, resp.StatusCode, []byte(body), 405, uma.CodeRequestNotFound)
		}
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: no CORS header", c.method, c.path)
		}
	}
	// A wrong path is still a 404.
	resp, body := umaDo(t, f, "GET", "/api/uma/nothing", "", "")
	wantUMAError(t, resp.StatusCode, []byte(body), 404, uma.CodeRequestNotFound)

	req, _ := http.NewRequest("OPTIONS", f.base+"/api/uma/payreq/bob", nil)
	req.Header.Set("Origin", "https://wallet.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD, POST" ||
		!strings.EqualFold(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestUMAPanicAnswersUMAError: a panic in an UMA handler is recovered,
// logged once, and answered as the UMA endpoints answer every error
// (UMA's error JSON, with CORS), not with the platform API's error JSON.
func TestUMAPanicAnswersUMAError(t *testing.T) {
	t.Parallel()
	logs := &countingHandler{msgs: map[string]int{}}
	s := api.New(api.Options{Logger: slog.New(logs)})
	s.MountUMA(&vasp.Service{}) // a Service not made by vasp.New panics when used
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/.well-known/lnurlpubkey")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantUMAError(t, resp.StatusCode, raw, 500, uma.CodeInternalError)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", resp.Header)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.msgs["panic in handler"] != 1 || logs.msgs["UMA request failed"] != 0 {
		t.Errorf("log records: %v, want one \"panic in handler\"", logs.msgs)
	}
}

// TestSlowAnswersOutliveTheWriteTimeout: the server's write timeout bounds
// a client that never reads its answer, but a payreq waits for the
// platform's approval (approval-timeout, which may be set far above the
// write timeout) and an execute for the payment (pay-timeout): those
// answers must still reach the caller, not a connection closed without one.
func TestSlowAnswersOutliveTheWriteTimeout(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	// The platform answers 202 and never decides: the payreq waits out
	// the approval timeout, then answers SENDER_NOT_ACCEPTED.
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(platform.Close)
	hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := hooks.ConfigurePrimary(t.Context(), platform.URL); err != nil {
		t.Fatal(err)
	}
	f := newPayFixtureWith(t, db, func(o *vasp.Options) {
		o.Webhooks = hooks
		o.ApprovalTimeout = 1500 * time.Millisecond
	}, func(s *http.Server) { s.WriteTimeout = 500 * time.Millisecond })
	body := mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, time.Now()))
	req, _ := http.NewRequest("POST", f.base+"/api/uma/payreq/bob", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the payreq got no answer: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantUMAError(t, resp.StatusCode, raw, 400, uma.CodeSenderNotAccepted)
}

// slowPayer is a node whose payments take a while to go out.
type slowPayer struct {
	lightning.Node
	delay time.Duration
}

func (n slowPayer) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	time.Sleep(n.delay)
	return n.Node.Pay(ctx, req)
}

func TestSlowExecuteOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	f := newPayFixtureWith(t, storetest.SQLite(t), func(o *vasp.Options) {
		o.Node = slowPayer{Node: o.Node, delay: 2 * time.Second}
	}, func(s *http.Server) { s.WriteTimeout = time.Second })
	q := f.quote(t, 1000)
	status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
	if status != 200 || m["status"] == nil {
		t.Fatalf("execute: %d %s", status, raw)
	}
}

// TestUMACompressedBody: a body sent with a content coding is refused with
// 415 and UMA's error JSON: vaspd decodes none, and would read the
// compressed bytes as the JSON itself.
func TestUMACompressedBody(t *testing.T) {
	t.Parallel()
	f := newPayFixture(t, storetest.SQLite(t))
	for _, c := range umaBodyEndpoints {
		req, _ := http.NewRequest("POST", f.base+c.path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantUMAError(t, resp.StatusCode, raw, 415, c.code)
	}
}
