package vasp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A call to a counterparty made inside a sampled trace carries no trace
// context (traceparent, tracestate, baggage), and is a client span naming
// the call and the counterparty's domain, never the URL, which names our
// user.
func TestCounterpartyCallsCarryNoTraceContext(t *testing.T) {
	t.Parallel()
	var got http.Header
	cp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusNotFound)
	}))
	defer cp.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("test")
	s := &Service{opt: Options{Tracer: tracer}, client: traceClient(&http.Client{}, tracer)}

	ctx, parent := tracer.Start(context.Background(), "GET /receiver/{receiverUmaAddress}")
	status, _, err := s.fetch(s.call(ctx, "payreq"), http.MethodPost, cp.URL+"/api/uma/payreq/alice", []byte("{}"))
	parent.End()
	if err != nil || status != 404 {
		t.Fatalf("%d %v", status, err)
	}
	for _, h := range []string{"Traceparent", "Tracestate", "Baggage"} {
		if v := got.Get(h); v != "" {
			t.Errorf("the counterparty received %s: %q", h, v)
		}
	}
	var span sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "uma payreq" {
			span = s
		}
	}
	if span == nil || span.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("no client span under the request's: %v", rec.Ended())
	}
	host := strings.TrimPrefix(cp.URL, "http://")
	attrs := map[string]string{}
	for _, a := range span.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
		if strings.Contains(a.Value.String(), "alice") {
			t.Errorf("attribute %s names the user: %q", a.Key, a.Value.String())
		}
	}
	if attrs["vaspd.counterparty"] != host || attrs["http.response.status_code"] != "404" ||
		span.Status().Code != codes.Error || span.Status().Description != "HTTP 404" {
		t.Fatalf("attributes %v, status %+v", attrs, span.Status())
	}

	// A call that fails says how, not the error's text (which quotes the URL).
	cp.Close()
	if _, _, err := s.fetch(ctx, http.MethodGet, cp.URL+"/.well-known/lnurlpubkey", nil); err == nil {
		t.Fatal("a closed server answered")
	}
	last := rec.Ended()[len(rec.Ended())-1]
	if last.Name() != "uma lnurlpubkey" || last.Status().Description != "connection failed" {
		t.Fatalf("%q %+v", last.Name(), last.Status())
	}
}
