package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd/internal/buildinfo"
)

// ServiceName is the resource's service.name unless OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise.
const ServiceName = "vaspd"

// ShutdownTimeout bounds the flush of the spans still queued when vaspd
// stops: a collector that is down must not hold the stop up for longer.
const ShutdownTimeout = 5 * time.Second

// instrumentation is the name of vaspd's tracer (the instrumentation
// scope of every span it makes).
const instrumentation = "github.com/vaspd/vaspd"

// Options configure New.
type Options struct {
	// Endpoint is the OTLP/HTTP traces URL, as CheckEndpoint returns it;
	// "" turns tracing off.
	Endpoint string
	// SampleRatio is the share of new traces recorded (0 to 1); a span
	// with a parent follows its parent's decision.
	SampleRatio float64
	// Version is the binary's version, for service.version; "" or "dev"
	// takes the module version Go recorded in the binary, if any.
	Version string
	Log     *slog.Logger
}

// Provider is a running tracer provider. A nil *Provider is tracing off.
type Provider struct {
	tp  *sdktrace.TracerProvider
	exp *exporter
}

// New builds the tracer provider, or returns nil (and no error) when
// o.Endpoint is "": then nothing of the SDK runs, no exporter exists and
// nothing is sent. The exporter (vaspd's own, exporter.go) reads the
// standard environment variables for what vaspd's settings do not set:
// OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE,
// _CLIENT_CERTIFICATE and _CLIENT_KEY, each with its _TRACES_ variant
// taking precedence (endpoint.go); one it cannot use is an error. The
// endpoint and the sampler are vaspd's settings, which take precedence
// over OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_TRACES_SAMPLER. The resource
// reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
//
// Exporting never holds a request up: ending a span puts it on the batch
// processor's queue (2048 spans) without waiting, and when the queue is
// full (a collector down or slow) spans are dropped; export errors are
// logged at most once a minute (logger.go).
func New(ctx context.Context, o Options) (*Provider, error) {
	if o.Endpoint == "" {
		return nil, nil
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	(&warnings{log: o.Log, every: warnEvery, now: time.Now}).install()
	env, err := readExporterEnv(o.Endpoint, os.Getenv, os.ReadFile)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", ServiceName)}
	userAgent := ServiceName
	if v := version(o.Version); v != "" {
		attrs = append(attrs, attribute.String("service.version", v))
		userAgent += "/" + v
	}
	// Later detectors win: the environment's service name and attributes
	// over vaspd's defaults.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	exp := newExporter(o.Endpoint, env, userAgent)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))),
	)
	return &Provider{tp: tp, exp: exp}, nil
}

// Tracer is vaspd's tracer, or nil for a nil Provider (tracing off): the
// instrumented packages take a nil trace.Tracer for no spans.
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return nil
	}
	return p.tp.Tracer(instrumentation)
}

// Shutdown exports the spans still queued and stops the exporter, within
// ctx (give it ShutdownTimeout): an export failing then is not retried,
// and one still in flight when ctx ends is abandoned (the SDK would leave
// it running on its own). A nil Provider has nothing to do.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.exp.lastExports()
	err := p.tp.Shutdown(ctx)
	p.exp.Shutdown(context.Background())
	if err != nil {
		return fmt.Errorf("tracing: flush and stop the exporter: %w", err)
	}
	return nil
}

// version is service.version: the binary's version stamped at build time,
// or else the main module's version Go records when it was built from a
// tagged module (go install …@v1.2.3), or "" (a development build).
func version(given string) string {
	if v := buildinfo.Read(given).Version; v != "dev" {
		return v
	}
	return ""
}
