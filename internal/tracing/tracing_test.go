package tracing

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/vaspd/vaspd/internal/tracing/tracingtest"
)

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://localhost:4318":                     "http://localhost:4318/v1/traces",
		"http://localhost:4318/":                    "http://localhost:4318/v1/traces",
		" https://otlp.example.com ":                "https://otlp.example.com/v1/traces",
		"https://otlp.example.com/custom/v1/traces": "https://otlp.example.com/custom/v1/traces",
		"http://[::1]:4318":                         "http://[::1]:4318/v1/traces",
	} {
		got, err := CheckEndpoint(in)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"localhost:4318":                             "absolute",
		"collector":                                  "absolute",
		"grpc://collector:4317":                      "scheme",
		"ftp://collector":                            "scheme",
		"http://user:s3cret@collector:4318":          "password",
		"http://collector:4318/v1/traces?key=s3cret": "query",
		"http://collector:4318/#s3cret":              "fragment",
		"http://:4318":                               "host",
		"http://collector:4318/%zz":                  "absolute",
		"http://collector:99999":                     "port",
		"http://collector:0/v1/traces":               "port",
	} {
		_, err := CheckEndpoint(in)
		if err == nil || !strings.Contains(err.Error(), why) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: err = %v, want one about the %s, without the secret", in, err, why)
		}
	}
}

// A malformed header list is refused naming the variable and the entry,
// never echoing it: the SDK would skip it and log it, value included.
func TestCheckEnvNeverEchoesHeaders(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if err := CheckEnv(env(map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":        "Authorization=Bearer%20s3cret,x-team=ops",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=s3cret",
		"OTEL_RESOURCE_ATTRIBUTES":          "deployment.environment=prod,service.namespace=pay",
	})); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, v, want string }{
		{"OTEL_EXPORTER_OTLP_HEADERS", "x-team=ops,s3cret", "entry 2 has no '='"},
		{"OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret%zz", "entry 1: the value is not URL-encoded"},
		{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad key=s3cret", "not an HTTP header name"},
		{"OTEL_EXPORTER_OTLP_HEADERS", "=s3cret", "empty key"},
		{"OTEL_RESOURCE_ATTRIBUTES", "service.name", "entry 1 has no '='"},
	} {
		err := CheckEnv(env(map[string]string{c.name: c.v}))
		if err == nil || !strings.Contains(err.Error(), "environment "+c.name) || !strings.Contains(err.Error(), c.want) ||
			strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s=%q: err = %v, want %q naming the variable, without the value", c.name, c.v, err, c.want)
		}
	}
}

// The SDK's errors (a collector that is down fails every export) are
// logged once a minute, the next line counting those left out.
func TestSDKErrorsAreRateLimited(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	w := &warnings{log: slog.New(slog.NewTextHandler(&buf, nil)), every: time.Minute, now: func() time.Time { return now }}
	for range 100 {
		w.Handle(errors.New("traces export: connection refused"))
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings for 100 errors within a minute, want 1:\n%s", n, buf.String())
	}
	now = now.Add(time.Minute)
	w.Handle(errors.New("traces export: connection refused"))
	if !strings.Contains(buf.String(), "suppressed=99") {
		t.Fatalf("the next minute's warning does not count the 99 left out:\n%s", buf.String())
	}
}

// The SDK's diagnostic logger keeps the keys of what it logs, never the
// values (a header's value is an API key).
func TestSDKDiagnosticsDropValues(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := &warnings{log: slog.New(slog.NewTextHandler(&buf, nil)), every: time.Minute, now: time.Now}
	s := &valuelessSink{w: w}
	s.Error(errors.New("missing '='"), "parse headers", "input", "Authorization: Bearer s3cret")
	if !strings.Contains(buf.String(), "parse headers") || !strings.Contains(buf.String(), "input") || strings.Contains(buf.String(), "s3cret") {
		t.Fatalf("logged %q", buf.String())
	}
	if s.Enabled(4) {
		t.Fatal("info-level SDK diagnostics enabled")
	}
}

// Off, New builds nothing: no provider, a nil tracer, nothing to shut down.
func TestNewWithoutEndpointIsOff(t *testing.T) {
	t.Parallel()
	p, err := New(context.Background(), Options{SampleRatio: 1})
	if err != nil || p != nil || p.Tracer() != nil || p.Shutdown(context.Background()) != nil {
		t.Fatalf("New without an endpoint: %v, %v", p, err)
	}
}

// On, spans reach an OTLP/HTTP collector with vaspd's resource (the
// environment's attributes added), the headers of OTEL_EXPORTER_OTLP_HEADERS
// on the export, and Shutdown flushes what is queued.
func TestSpansReachTheCollector(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	defer otel.SetErrorHandler(otel.GetErrorHandler())
	c := tracingtest.Start(t)
	ep, err := CheckEndpoint(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), Options{Endpoint: ep, SampleRatio: 1, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := c.Spans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("spans %+v", spans)
	}
	r := spans[0].Resource
	if r["service.name"] != "vaspd" || r["service.version"] != "v1.2.3" || r["deployment.environment"] != "test" {
		t.Fatalf("resource %v", r)
	}
	if h := c.Headers(); len(h) == 0 || h[0].Get("X-Api-Key") != "s3cret" {
		t.Fatalf("export headers %v", h)
	}
}

// OTEL_SERVICE_NAME names the service instead of vaspd.
func TestServiceNameFromEnvironment(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "vaspd-eu")
	c := tracingtest.Start(t)
	ep, _ := CheckEndpoint(c.URL)
	p, err := New(context.Background(), Options{Endpoint: ep, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), "work")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := c.Spans(); len(s) != 1 || s[0].Resource["service.name"] != "vaspd-eu" {
		t.Fatalf("spans %+v", s)
	}
}
