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
// The exporter is vaspd's own (exporter.go, transform.go), not the
// OpenTelemetry project's otlptracehttp: that one imports the Go package
// of OTLP's request type, go.opentelemetry.io/proto/otlp/collector/trace/v1,
// which also holds the gRPC service and its grpc-gateway, so that gRPC,
// grpc-gateway and genproto (~100 packages, 8.7 MB of a 42.9 MB binary)
// were linked into a server that never speaks gRPC. Ours writes that
// request with protowire around the otlp/trace/v1 messages, which import
// no gRPC; TestSameRequestAsOtlptracehttp checks that it sends what
// otlptracehttp v1.47.0 sends (a test dependency only), and
// cmd/vaspd's TestBinaryLinksNoGRPC that gRPC stays out.
//
// What never leaves vaspd: the exporter's headers (OTEL_EXPORTER_OTLP_HEADERS
// may carry an API key) are never logged, neither by vaspd nor by the SDK's
// diagnostics, which go to a logger that drops their values (logger.go); an
// endpoint with credentials or a query is refused (CheckEndpoint), so the
// URL the export errors quote holds no secret. What the spans may carry is
// each instrumenting package's concern (README, "Tracing").
package tracing
