package api_test

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/store/storetest"
)

// remoteParent is a caller's W3C traceparent: its trace and span ids.
const (
	remoteTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpan   = "00f067aa0ba902b7"
	remoteHeader = "00-" + remoteTrace + "-" + remoteSpan + "-01"
)

// tracedFixture is a server tracing into an in-memory recorder (the real
// SDK, sampling everything), with a platform route and a public one whose
// handlers start a child span from their request's context.
func tracedFixture(t *testing.T) (*fixture, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	tracer := tp.Tracer("test")
	child := func(r *http.Request) {
		_, s := tracer.Start(r.Context(), "child")
		s.End()
	}
	f := newFixtureOpts(t, storetest.SQLite(t), func(o *api.Options) { o.Tracer = tracer }, func(s *api.Server) {
		s.Handle("GET /things/{id}", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error {
			child(r)
			api.WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
			return nil
		})
		s.Handle("GET /broken", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error {
			return vaspd.Errorf(http.StatusServiceUnavailable, vaspd.CodeUnavailable, "down for the test")
		})
		s.HandlePublic("GET /.well-known/lnurlp/{user}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			child(r)
			w.WriteHeader(http.StatusNotFound)
		}))
	}, nil)
	return f, rec
}

// ended returns the one ended span named name.
func ended(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var got []sdktrace.ReadOnlySpan
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
		if s.Name() == name {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d spans named %q; have %q", len(got), name, names)
	}
	return got[0]
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

// An authenticated platform request continues the platform's trace: its
// server span is named by the route pattern, a child of the caller's span,
// and carries method, route, status and request id; the handler's spans
// are its children.
func TestPlatformRequestContinuesTheCallersTrace(t *testing.T) {
	t.Parallel()
	f, rec := tracedFixture(t)
	st, _, h := f.send(t, "GET", "/things/Thing:secret-id-1", &f.admin, "", "", "traceparent", remoteHeader, "X-Request-Id", "req-42")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	s := ended(t, rec, "GET /things/{id}")
	if s.SpanKind() != trace.SpanKindServer || s.SpanContext().TraceID().String() != remoteTrace ||
		s.Parent().SpanID().String() != remoteSpan || !s.Parent().IsRemote() {
		t.Fatalf("span %v in trace %s, parent %s: want a server span continuing %s", s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID(), remoteHeader)
	}
	for k, want := range map[string]string{"http.request.method": "GET", "http.route": "/things/{id}",
		"http.response.status_code": "200", "vaspd.request_id": h.Get("X-Request-Id")} {
		if got := attr(s, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, a := range s.Attributes() {
		if strings.Contains(a.Value.String(), "secret-id-1") {
			t.Errorf("attribute %s quotes the request's path: %q", a.Key, a.Value.String())
		}
	}
	c := ended(t, rec, "child")
	if c.Parent().SpanID() != s.SpanContext().SpanID() {
		t.Fatal("the handler's span is not a child of the server span")
	}
}

// A request that fails authentication does not continue anyone's trace
// (anyone can send a traceparent, and a sampled flag would force sampling).
func TestUnauthenticatedRequestStartsItsOwnTrace(t *testing.T) {
	t.Parallel()
	f, rec := tracedFixture(t)
	if st, _, _ := f.send(t, "GET", "/things/x", nil, "", "", "traceparent", remoteHeader); st != 401 {
		t.Fatalf("status %d", st)
	}
	s := ended(t, rec, "GET /things/{id}")
	if s.SpanContext().TraceID().String() == remoteTrace || s.Parent().IsValid() {
		t.Fatalf("unauthenticated request continued the caller's trace")
	}
	if attr(s, "http.response.status_code") != "401" || attr(s, "vaspd.error_code") != "UNAUTHORIZED" {
		t.Fatalf("attributes %v", s.Attributes())
	}
	if s.Status().Code == codes.Error {
		t.Fatal("a 4xx marked the server span as an error")
	}
}

// A public (UMA) request never continues a remote trace: a new root, the
// caller's span only as a link; named by the pattern, not the user name.
func TestPublicRequestStartsANewRoot(t *testing.T) {
	t.Parallel()
	f, rec := tracedFixture(t)
	if st, _, _ := f.send(t, "GET", "/.well-known/lnurlp/alice", nil, "", "", "traceparent", remoteHeader); st != 404 {
		t.Fatalf("status %d", st)
	}
	s := ended(t, rec, "GET /.well-known/lnurlp/{user}")
	if s.SpanContext().TraceID().String() == remoteTrace || s.Parent().IsValid() {
		t.Fatal("a public request continued the caller's trace")
	}
	if l := s.Links(); len(l) != 1 || l[0].SpanContext.TraceID().String() != remoteTrace {
		t.Fatalf("links %v, want the caller's span", l)
	}
	for _, a := range s.Attributes() {
		if strings.Contains(a.Value.String(), "alice") {
			t.Errorf("attribute %s names the user: %q", a.Key, a.Value.String())
		}
	}
	if c := ended(t, rec, "child"); c.Parent().SpanID() != s.SpanContext().SpanID() {
		t.Fatal("the handler's span is not a child of the server span")
	}
}

// Unrouted requests are named by their method alone; a 5xx is an error
// whose message is vaspd's code.
func TestUnroutedAndFailedRequests(t *testing.T) {
	t.Parallel()
	f, rec := tracedFixture(t)
	f.send(t, "GET", "/no/such/alice", nil, "", "")
	s := ended(t, rec, "GET")
	if attr(s, "http.response.status_code") != "404" || attr(s, "http.route") != "" {
		t.Fatalf("unrouted: %v", s.Attributes())
	}
	f.send(t, "GET", "/broken", &f.admin, "", "")
	s = ended(t, rec, "GET /broken")
	if s.Status().Code != codes.Error || s.Status().Description != "SERVICE_UNAVAILABLE" {
		t.Fatalf("5xx status %+v", s.Status())
	}
}

// A public caller's tracestate is not kept on the link to its span: it is
// whatever the caller chose (up to 32 entries of 512 bytes each), which
// would be written into every span the caller makes vaspd record.
func TestPublicRequestLinkDropsTheCallersTraceState(t *testing.T) {
	t.Parallel()
	f, rec := tracedFixture(t)
	state := "attacker=" + strings.Repeat("x", 200) + ",other=chosen-by-the-caller"
	if st, _, _ := f.send(t, "GET", "/.well-known/lnurlp/alice", nil, "", "", "traceparent", remoteHeader, "tracestate", state); st != 404 {
		t.Fatalf("status %d", st)
	}
	s := ended(t, rec, "GET /.well-known/lnurlp/{user}")
	l := s.Links()
	if len(l) != 1 || l[0].SpanContext.TraceID().String() != remoteTrace || l[0].SpanContext.SpanID().String() != remoteSpan {
		t.Fatalf("links %v, want the caller's span", l)
	}
	if ts := l[0].SpanContext.TraceState(); ts.Len() != 0 {
		t.Fatalf("the link keeps the caller's tracestate %q", ts.String())
	}
	if ts := s.SpanContext().TraceState(); ts.Len() != 0 {
		t.Fatalf("the span took the caller's tracestate %q", ts.String())
	}
}
