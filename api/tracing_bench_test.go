package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vaspd/vaspd/api"
)

// BenchmarkMiddleware is the cost of the request middleware (request id,
// client address, metrics, log line and, when on, the server span) around
// a public route that answers at once: tracing off, on and sampled (a
// batch processor in front of an exporter that drops what it is given),
// and on with nothing sampled.
//
//	go test -run '^$' -bench Middleware -benchmem ./api/
func BenchmarkMiddleware(b *testing.B) {
	run := func(b *testing.B, opt func(*api.Options)) {
		opts := api.Options{}
		if opt != nil {
			opt(&opts)
		}
		s := api.New(opts)
		s.HandlePublic("GET /.well-known/lnurlp/{user}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
		h := s.Handler()
		req := httptest.NewRequest("GET", "/.well-known/lnurlp/alice", nil)
		req.Header.Set("traceparent", remoteHeader)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	b.Run("off", func(b *testing.B) { run(b, nil) })
	for _, c := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{{"on", sdktrace.AlwaysSample()}, {"on-unsampled", sdktrace.NeverSample()}} {
		b.Run(c.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(c.sampler))
			defer tp.Shutdown(b.Context())
			run(b, func(o *api.Options) { o.Tracer = tp.Tracer("bench") })
		})
	}
}
