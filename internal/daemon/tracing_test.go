package daemon

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/vaspd/vaspd/internal/tracing/tracingtest"
)

// A caller's W3C trace context.
const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan   = "00f067aa0ba902b7"
	callerHeader = "00-" + callerTrace + "-" + callerSpan + "-01"
)

// do sends one request (Basic auth when id is set) with a traceparent
// and returns the status and body.
func do(t *testing.T, method, url, id, secret, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("traceparent", callerHeader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// spanNamed is the one span of that name.
func spanNamed(t *testing.T, spans []tracingtest.Span, name string) tracingtest.Span {
	t.Helper()
	var got []tracingtest.Span
	for _, s := range spans {
		if s.Name == name {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d spans named %q in %d", len(got), name, len(spans))
	}
	return got[0]
}

// A real vaspd with tracing on sends its spans to an OTLP/HTTP collector:
// the platform API's continue the platform's traceparent, the public UMA
// endpoints' start new traces; spans are named by route patterns and no
// attribute names the UMA user of the request; a lookup's call to the
// counterparty is a client span under the platform's request, and the
// counterparty receives no trace context.
func TestTracesReachTheCollector(t *testing.T) {
	collector := tracingtest.Start(t)
	var mu sync.Mutex
	var cpHeaders []http.Header
	counterparty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cpHeaders = append(cpHeaders, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"status":"ERROR","reason":"no such user"}`))
	}))
	defer counterparty.Close()
	hooks := make(chan http.Header, 8)
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks <- r.Header.Clone()
	}))
	defer platform.Close()
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
	cfg.Tracing = TracingConfig{Endpoint: collector.URL, SampleRatio: 1}
	cfg.Payments.AllowNets = "127.0.0.0/8"
	cfg.Webhooks.AllowNets = "127.0.0.0/8"
	cfg.Domain = "vasp1.test:8080" // signs the lookup (listen's port is 0)
	r := start(t, cfg)
	id, secret := credential(t, r.out.String())

	st, user := do(t, "POST", r.url+"/users", id, secret, `{"umaAddress":"$zelda.private","platformUserId":"p-1","userType":"INDIVIDUAL",
		"fullName":"Zelda Private","birthDate":"1990-01-15","nationality":"FR","kycStatus":"VERIFIED","preferredCurrencies":["USD"],
		"address":{"line1":"1 Rue X","postalCode":"75001","country":"FR"},
		"bankAccountInfo":{"accountType":"IBAN","iban":"FR1420041010050500013M02606","bankName":"La Banque"}}`)
	if st != http.StatusCreated {
		t.Fatalf("create user: %d %v", st, user)
	}
	cpDomain := strings.TrimPrefix(counterparty.URL, "http://")
	if st, b := do(t, "GET", r.url+"/receiver/$carol.secret@"+cpDomain+"?userId="+user["id"].(string), id, secret, ""); st != http.StatusNotFound {
		t.Fatalf("lookup: %d %v", st, b)
	}
	if st, _ := do(t, "GET", r.url+"/.well-known/lnurlp/zelda.private", "", "", ""); st != http.StatusOK {
		t.Fatalf("lnurlp: %d", st)
	}
	// Setting the webhook endpoint enqueues a TEST webhook, which the
	// worker delivers after the request, in a trace of its own.
	if st, b := do(t, "PATCH", r.url+"/config", id, secret, `{"webhookEndpoint":"`+platform.URL+`/hooks"}`); st != http.StatusOK {
		t.Fatalf("PATCH /config: %d %v", st, b)
	}
	var hook http.Header
	select {
	case hook = <-hooks:
	case <-time.After(10 * time.Second):
		t.Fatal("no TEST webhook")
	}
	if err := r.stop(); err != nil { // flushes the spans
		t.Fatal(err)
	}
	spans := collector.Spans()

	create := spanNamed(t, spans, "POST /users")
	if create.Kind != tracepb.Span_SPAN_KIND_SERVER || create.TraceID != callerTrace || create.ParentSpanID != callerSpan ||
		create.Attrs["http.response.status_code"] != "201" || create.Attrs["http.route"] != "/users" || create.Attrs["vaspd.request_id"] == "" {
		t.Fatalf("platform request's span: %+v", create)
	}
	if create.Resource["service.name"] != "vaspd" {
		t.Fatalf("resource %v", create.Resource)
	}
	lookup := spanNamed(t, spans, "GET /receiver/{receiver}")
	if lookup.TraceID != callerTrace || lookup.Attrs["vaspd.error_code"] == "" {
		t.Fatalf("lookup's span: %+v", lookup)
	}
	call := spanNamed(t, spans, "uma lnurlp")
	if call.Kind != tracepb.Span_SPAN_KIND_CLIENT || call.ParentSpanID != lookup.SpanID || call.Attrs["vaspd.counterparty"] != cpDomain ||
		call.Attrs["http.response.status_code"] != "404" || call.StatusCode != tracepb.Status_STATUS_CODE_ERROR {
		t.Fatalf("counterparty call's span: %+v", call)
	}
	uma := spanNamed(t, spans, "GET /.well-known/lnurlp/{user}")
	if uma.TraceID == callerTrace || uma.ParentSpanID != "" || len(uma.Links) != 1 || uma.Links[0].TraceID != callerTrace ||
		uma.Attrs["http.response.status_code"] != "200" {
		t.Fatalf("UMA request's span: %+v", uma)
	}
	// The webhook attempt is a root linked to the request that enqueued
	// it, which continued the platform's trace; the platform receives the
	// attempt's traceparent.
	patch := spanNamed(t, spans, "PATCH /config")
	attempt := spanNamed(t, spans, "webhook attempt")
	if patch.TraceID != callerTrace || attempt.TraceID == callerTrace || attempt.ParentSpanID != "" ||
		len(attempt.Links) != 1 || attempt.Links[0] != (tracingtest.Link{TraceID: callerTrace, SpanID: patch.SpanID}) ||
		attempt.Attrs["vaspd.webhook.event_type"] != "TEST" {
		t.Fatalf("webhook attempt's span: %+v (the request's: %+v)", attempt, patch)
	}
	if got, want := hook.Get("Traceparent"), "00-"+attempt.TraceID+"-"+attempt.SpanID+"-01"; got != want {
		t.Fatalf("webhook traceparent %q, want the attempt's %q", got, want)
	}
	for _, s := range spans {
		for k, v := range s.Attrs {
			if strings.Contains(v, "zelda") || strings.Contains(v, "carol") || strings.Contains(v, "Zelda") {
				t.Errorf("span %q: %s = %q names a user", s.Name, k, v)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cpHeaders) == 0 {
		t.Fatal("the counterparty was never called")
	}
	for _, h := range cpHeaders {
		for _, k := range []string{"Traceparent", "Tracestate", "Baggage"} {
			if h.Get(k) != "" {
				t.Errorf("the counterparty received %s: %q", k, h.Get(k))
			}
		}
	}
}

// With tracing off no tracer provider exists and nothing is sent, even
// with the SDK's own endpoint variables pointing at a collector.
func TestTracingOffSendsNothing(t *testing.T) {
	collector := tracingtest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.URL+"/v1/traces")
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	id, secret := credential(t, r.out.String())
	do(t, "GET", r.url+"/tokens", id, secret, "")
	do(t, "GET", r.url+"/.well-known/lnurlp/nobody", "", "", "")
	if r.d.tracing != nil {
		t.Fatal("a tracer provider was built with tracing off")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := collector.Requests(); n != 0 {
		t.Fatalf("the collector received %d requests with tracing off", n)
	}
}

// A collector that accepts connections and never answers does not slow
// requests down (spans are queued, then dropped), and holds the stop up
// for tracing.ShutdownTimeout at most.
func TestCollectorDownDoesNotDelayRequests(t *testing.T) {
	hang := make(chan struct{})
	blackhole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer blackhole.Close()
	defer close(hang)
	// And one that refuses connections: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	for _, ep := range []string{blackhole.URL, refused} {
		cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
		cfg.Tracing = TracingConfig{Endpoint: ep, SampleRatio: 1}
		r := start(t, cfg)
		id, secret := credential(t, r.out.String())
		var slowest time.Duration
		for range 3000 { // more spans than the batch processor queues (2048)
			began := time.Now()
			do(t, "GET", r.url+"/healthz", "", "", "")
			slowest = max(slowest, time.Since(began))
		}
		began := time.Now()
		if st, _ := do(t, "GET", r.url+"/tokens", id, secret, ""); st != 200 {
			t.Fatalf("tokens: %d", st)
		}
		slowest = max(slowest, time.Since(began))
		if slowest > time.Second {
			t.Errorf("%s: the slowest request took %s", ep, slowest)
		}
		began = time.Now()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("%s: stopping took %s", ep, took)
		}
	}
}
