package daemon

import (
	"testing"
)

// tracing-endpoint is an OTLP/HTTP URL: what is not, or holds credentials,
// is refused at start naming the setting and never echoing the secret.
func TestTracingEndpointIsChecked(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"localhost:4318", "grpc://collector:4317", "http://ops:s3cret@collector:4318", "http://collector:4318/v1/traces?api_key=s3cret"} {
		c := baseConfig()
		c.Tracing.Endpoint = bad
		c.Tracing.SampleRatio = 1
		resolveErr(t, c, "setting tracing-endpoint", "s3cret")
	}
	c := baseConfig()
	c.Tracing.Endpoint, c.Tracing.SampleRatio = "http://collector:4318", 1
	if err := c.Resolve(); err != nil || c.Tracing.endpoint != "http://collector:4318/v1/traces" {
		t.Fatalf("%v, endpoint %q", err, c.Tracing.endpoint)
	}
}

// tracing-sample-ratio is a share of new traces: outside [0, 1] is a
// mistake, refused naming the setting.
func TestTracingSampleRatioIsChecked(t *testing.T) {
	t.Parallel()
	for _, bad := range []float64{-0.1, 1.5, 100} {
		c := baseConfig()
		c.Tracing.Endpoint, c.Tracing.SampleRatio = "http://collector:4318", bad
		resolveErr(t, c, "setting tracing-sample-ratio", "")
	}
	for _, good := range []float64{0, 0.01, 1} {
		c := baseConfig()
		c.Tracing.Endpoint, c.Tracing.SampleRatio = "http://collector:4318", good
		if err := c.Resolve(); err != nil {
			t.Errorf("%v: %v", good, err)
		}
	}
}

// Tracing is off by default (no endpoint), samples every new trace when on,
// and both settings come from their flags and VASPD_* variables.
func TestTracingSettingsFromEnvAndFlags(t *testing.T) {
	t.Parallel()
	c := parseConfig(t, nil, nil)
	if c.Tracing.Endpoint != "" || c.Tracing.SampleRatio != 1 {
		t.Fatalf("defaults: %+v", c.Tracing)
	}
	c = parseConfig(t, nil, map[string]string{"VASPD_TRACING_ENDPOINT": "http://jaeger:4318", "VASPD_TRACING_SAMPLE_RATIO": "0.25"})
	if c.Tracing.Endpoint != "http://jaeger:4318" || c.Tracing.SampleRatio != 0.25 {
		t.Fatalf("from the environment: %+v", c.Tracing)
	}
	c = parseConfig(t, []string{"--tracing-sample-ratio=0.5", "--tracing-endpoint=https://otlp.example.com"}, map[string]string{"VASPD_TRACING_SAMPLE_RATIO": "0.25"})
	if c.Tracing.Endpoint != "https://otlp.example.com" || c.Tracing.SampleRatio != 0.5 {
		t.Fatalf("from the flags: %+v", c.Tracing)
	}
	c.LogFormat, c.LogLevel, c.DataDir, c.Listen = "auto", "info", "d", "127.0.0.1:8080"
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
}

// With tracing on, a malformed OTEL_EXPORTER_OTLP_HEADERS stops vaspd (the
// SDK would skip the entry and log it, value included); with tracing off
// the variable is not read.
func TestTracingHeadersAreCheckedWhenOn(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret%")
	c := baseConfig()
	c.Tracing.SampleRatio = 1
	if err := c.Resolve(); err != nil {
		t.Fatalf("tracing off: %v", err)
	}
	c.Tracing.Endpoint = "http://collector:4318"
	resolveErr(t, c, "OTEL_EXPORTER_OTLP_HEADERS", "s3cret")
}
