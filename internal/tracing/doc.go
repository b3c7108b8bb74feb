// Package tracing builds vaspd's OpenTelemetry tracer provider: an OTLP/HTTP
// exporter behind a batch span processor, a parent-based ratio sampler and
// the service's resource. It is off unless the tracing-endpoint setting
// names a collector; then New builds nothing and every instrumented package
// (api, vasp, delivery) is given a nil trace.Tracer, which they take for
// "no spans" at the cost of a nil check.
//
// The spans themselves are made where the work is: api's middleware (one
// server span per request), vasp's counterparty client and Lightning calls,
// delivery's webhook attempts. They depend only on the OpenTelemetry API
// (go.opentelemetry.io/otel/trace); this package is the one that links the
// SDK and the exporter, and internal/daemon the one that calls it.
//
// What never leaves vaspd: the exporter's headers (OTEL_EXPORTER_OTLP_HEADERS
// may carry an API key) are never logged, neither by vaspd nor by the SDK's
// diagnostics, which go to a logger that drops their values (logger.go); an
// endpoint with credentials or a query is refused (CheckEndpoint), so the
// URL the export errors quote holds no secret. What the spans may carry is
// each instrumenting package's concern (README, "Tracing").
package tracing
