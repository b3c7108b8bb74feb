package tracing

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// everyAttribute is one attribute of every type the API has.
var everyAttribute = []attribute.KeyValue{
	attribute.Bool("bool", true),
	attribute.Int64("int64", -42),
	attribute.Float64("float64", 2.5),
	attribute.String("string", "text"),
	attribute.BoolSlice("bool_slice", []bool{true, false}),
	attribute.Int64Slice("int64_slice", []int64{1, -2, 3}),
	attribute.Float64Slice("float64_slice", []float64{0.5, -1.25}),
	attribute.StringSlice("string_slice", []string{"a", "", "c"}),
	attribute.ByteSlice("bytes", []byte{0, 1, 0xff}),
	attribute.Slice("slice", attribute.StringValue("x"), attribute.IntValue(2), attribute.BoolValue(false),
		attribute.ByteSliceValue([]byte("b")), attribute.SliceValue(attribute.Float64Value(1.5), attribute.Value{}),
		attribute.MapValue(attribute.String("inner", "v"))),
	attribute.Map("map", attribute.String("k", "v"), attribute.Int("n", 7),
		attribute.Map("nested", attribute.Bool("ok", true)), attribute.KeyValue{Key: "none"}),
	{Key: "empty"},
}

// recordedSpans are spans made by real tracer providers: two resources
// (one with a schema URL), several scopes (one with version, schema URL
// and attributes), every kind, every attribute type, events, links with
// trace state and attributes, statuses, a remote and a local parent, a
// span starting before 1970, a provider whose limits drop attributes,
// events and links; and a span with neither resource nor scope.
func recordedSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	resA := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "a"), attribute.Int("service.instance", 1), attribute.StringSlice("tags", []string{"x", "y"}))
	resB := resource.NewSchemaless(attribute.String("service.name", "b"))
	tpA := sdktrace.NewTracerProvider(sdktrace.WithResource(resA), sdktrace.WithSpanProcessor(rec))
	tpB := sdktrace.NewTracerProvider(sdktrace.WithResource(resB), sdktrace.WithSpanProcessor(rec),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{AttributeValueLengthLimit: -1, AttributeCountLimit: 2,
			EventCountLimit: 1, LinkCountLimit: 1, AttributePerEventCountLimit: 1, AttributePerLinkCountLimit: 1}))
	one := tpA.Tracer("scope/one", trace.WithInstrumentationVersion("v1.2.3"), trace.WithSchemaURL("https://example.com/schema"),
		trace.WithInstrumentationAttributes(attribute.String("scope.attr", "s"), attribute.Int("scope.n", 3)))
	two := tpA.Tracer("scope/two")
	limited := tpB.Tracer("scope/limited")

	ts, err := trace.ParseTraceState("vendor=abc,other=def")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	linkTS, _ := trace.ParseTraceState("linked=1")
	remoteLink := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9, 9}, SpanID: trace.SpanID{8, 8},
		TraceState: linkTS, Remote: true}) // not sampled
	localLink := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{6},
		TraceFlags: trace.FlagsSampled})
	start := time.Unix(1_800_000_000, 123456789)

	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	ctx, server := one.Start(ctx, "server", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithAttributes(everyAttribute...),
		trace.WithLinks(trace.Link{SpanContext: remoteLink, Attributes: []attribute.KeyValue{attribute.String("why", "caller")}},
			trace.Link{SpanContext: localLink}))
	server.AddEvent("event", trace.WithTimestamp(start.Add(time.Millisecond)), trace.WithAttributes(everyAttribute...))
	server.AddEvent("bare", trace.WithTimestamp(start.Add(2*time.Millisecond)))
	server.RecordError(errors.New("boom"), trace.WithTimestamp(start.Add(3*time.Millisecond)))
	server.SetStatus(codes.Error, "failed: NO_ROUTE")

	_, client := two.Start(ctx, "client", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start))
	client.SetStatus(codes.Ok, "")
	client.End(trace.WithTimestamp(start.Add(time.Second)))

	for i, k := range []trace.SpanKind{trace.SpanKindProducer, trace.SpanKindConsumer, trace.SpanKindInternal, trace.SpanKindUnspecified} {
		_, s := limited.Start(context.Background(), "limited", trace.WithSpanKind(k), trace.WithTimestamp(start),
			trace.WithAttributes(attribute.Int("i", i), attribute.Int("j", i), attribute.Int("k", i)),
			// The limits keep the last link and event.
			trace.WithLinks(trace.Link{SpanContext: localLink},
				trace.Link{SpanContext: remoteLink, Attributes: []attribute.KeyValue{attribute.Int("a", 1), attribute.Int("b", 2)}}))
		s.AddEvent("dropped")
		s.AddEvent("kept", trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2)))
		s.End()
	}

	_, old := one.Start(ctx, "before 1970", trace.WithTimestamp(time.Unix(-5, 0)))
	old.End(trace.WithTimestamp(time.Unix(-1, 0)))
	_, again := two.Start(context.Background(), "root in scope two")
	again.End()
	server.End(trace.WithTimestamp(start.Add(2 * time.Second)))

	spans := rec.Ended()
	if len(spans) != 8 {
		t.Fatalf("%d spans recorded", len(spans))
	}
	// And what no provider makes: no resource, the zero scope.
	return append(spans, tracetest.SpanStub{Name: "stub", StartTime: start, EndTime: start}.Snapshot())
}

// bodies is a collector keeping each request's body by path, gunzipped.
type bodies struct {
	mu  sync.Mutex
	got map[string][][]byte
	hdr map[string][]http.Header
}

func startBodies(t *testing.T) (*bodies, string) {
	b := &bodies{got: map[string][][]byte{}, hdr: map[string][]http.Header{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "bad gzip", http.StatusBadRequest)
				return
			}
			rd = zr
		}
		body, err := io.ReadAll(rd)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.got[r.URL.Path] = append(b.got[r.URL.Path], body)
		b.hdr[r.URL.Path] = append(b.hdr[r.URL.Path], r.Header.Clone())
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func (b *bodies) request(t *testing.T, path string) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.got[path]) != 1 {
		t.Fatalf("%s: %d requests, want 1", path, len(b.got[path]))
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b.got[path][0], &req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &req
}

// byResource sorts the request's resources (otlptracehttp sends them in
// map order).
func byResource(req *coltracepb.ExportTraceServiceRequest) {
	key := func(rs *tracepb.ResourceSpans) string {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rs.GetResource())
		return string(b)
	}
	sort.SliceStable(req.ResourceSpans, func(i, j int) bool { return key(req.ResourceSpans[i]) < key(req.ResourceSpans[j]) })
}

// The strongest check of the exporter's encoding: the same spans sent by
// the upstream exporter (otlptracehttp, which vaspd used before) and by
// ours decode to the same request, but for the links' trace state, which
// ours sends and otlptracehttp v1.47.0 leaves out. Plain and gzipped.
func TestSameRequestAsOtlptracehttp(t *testing.T) {
	spans := recordedSpans(t)
	for _, gz := range []bool{false, true} {
		if gz {
			t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
		}
		col, url := startBodies(t)
		ctx := context.Background()
		up, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url+"/upstream/v1/traces"))
		if err != nil {
			t.Fatal(err)
		}
		if err := up.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
		up.Shutdown(ctx)
		env, err := readExporterEnv(url+"/ours/v1/traces", os.Getenv, os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		ours := newExporter(url+"/ours/v1/traces", env, "vaspd/test")
		if err := ours.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
		ours.Shutdown(ctx)
		if h := col.hdr["/ours/v1/traces"][0]; h.Get("Content-Type") != "application/x-protobuf" ||
			(h.Get("Content-Encoding") == "gzip") != gz {
			t.Fatalf("gzip %v: headers %v", gz, h)
		}

		want, got := col.request(t, "/upstream/v1/traces"), col.request(t, "/ours/v1/traces")
		// Ours keeps the order in which resources and scopes first came
		// (spans in the order they ended: "client" first).
		if rs := got.GetResourceSpans(); len(rs) != 3 || rs[0].GetSchemaUrl() == "" || len(rs[0].GetScopeSpans()) != 2 ||
			rs[0].GetScopeSpans()[0].GetScope().GetName() != "scope/two" || rs[0].GetScopeSpans()[1].GetScope().GetName() != "scope/one" {
			t.Fatalf("resources out of order: %v", prototext.Format(got))
		}
		var linkStates []string
		for _, rs := range got.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					for _, l := range s.GetLinks() {
						linkStates = append(linkStates, l.GetTraceState())
						l.TraceState = ""
					}
				}
			}
		}
		if len(linkStates) != 6 || linkStates[0] != "linked=1" || linkStates[1] != "" {
			t.Fatalf("links' trace state %q", linkStates)
		}
		byResource(want)
		byResource(got)
		if !proto.Equal(want, got) {
			t.Fatalf("gzip %v: the requests differ\notlptracehttp:\n%s\nours:\n%s", gz, prototext.Format(want), prototext.Format(got))
		}
	}
}
