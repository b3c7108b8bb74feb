package api

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (Options.Tracer): every request gets one server span, named by
// its route pattern ("POST /quotes/{id}/execute"), never its path, which
// carries ids and UMA user names. It records the method, the route, the
// status, the request id and, for an error answer, vaspd's (or UMA's)
// error code; nothing of the request's contents.
//
// Whose trace a request joins depends on who sent it, which the mux
// tells only once it has routed the request. So the span is begun lazily:
//
//   - an authenticated platform request (the platform is the operator's
//     own system) continues the W3C traceparent it carries: begun by
//     authenticate, once the credentials are good;
//   - a public request (UMA endpoints: other VASPs, anyone) starts a new
//     trace, the caller's span at most a link: begun by HandlePublic's
//     wrapper, so the handler's own spans (key fetches, the approval
//     webhook, the invoice) are its children;
//   - any other (a failed authentication, /healthz, an unknown path) too,
//     begun by the middleware when the answer is done.
//
// Anyone can send a traceparent, sampled flag set; one a failed
// authentication carried would otherwise make vaspd record whatever the
// sender liked. Each span starts at the time the middleware received the
// request, whichever of them begins it. With no tracer, no serverSpan
// exists and the request pays one nil check.

const serverSpanKey ctxKey = 200

// traceContext reads W3C traceparent and tracestate headers.
var traceContext = propagation.TraceContext{}

// serverSpan is a request's span, begun or not yet.
type serverSpan struct {
	tracer trace.Tracer
	header http.Header
	start  time.Time
	id     string // X-Request-Id
	span   trace.Span
	code   string // the error code answered, if any
}

func (s *Server) newServerSpan(r *http.Request, start time.Time, id string) *serverSpan {
	if s.opts.Tracer == nil {
		return nil
	}
	return &serverSpan{tracer: s.opts.Tracer, header: r.Header, start: start, id: id}
}

func serverSpanOf(ctx context.Context) *serverSpan {
	ss, _ := ctx.Value(serverSpanKey).(*serverSpan)
	return ss
}

// beginSpan begins r's server span, unless tracing is off or it has begun,
// and returns r with the span in its context. continueRemote: the caller's
// traceparent is the span's parent (an authenticated platform request);
// otherwise the span is a new root, linked to it.
func beginSpan(r *http.Request, continueRemote bool) *http.Request {
	ss := serverSpanOf(r.Context())
	if ss == nil || ss.span != nil {
		return r
	}
	return r.WithContext(ss.begin(r.Context(), r, continueRemote))
}

func (ss *serverSpan) begin(ctx context.Context, r *http.Request, continueRemote bool) context.Context {
	method, route := methodAttr(r.Method), routeOf(r.Pattern)
	attrs := []attribute.KeyValue{attribute.String("http.request.method", method), attribute.String("vaspd.request_id", ss.id)}
	name := method
	if method == "_OTHER" {
		name = "HTTP"
	}
	if route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
		name += " " + route
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(ss.start), trace.WithAttributes(attrs...)}
	remote := trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.HeaderCarrier(ss.header)))
	parent := ctx
	switch {
	case remote.IsValid() && continueRemote:
		parent = trace.ContextWithRemoteSpanContext(ctx, remote)
	case remote.IsValid():
		// The link names the caller's span, nothing more: its
		// tracestate is whatever the caller chose (up to 32 entries
		// of 512 bytes), not ours to write into our spans.
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote.WithTraceState(trace.TraceState{})}))
	default:
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, ss.span = ss.tracer.Start(parent, name, opts...)
	return ctx
}

// end ends the span of the request r answered with status, beginning it
// first if nothing did (a new root). A 5xx is an error, its message the
// error code answered; a 4xx is the client's, not ours (OpenTelemetry's
// rule for server spans), and only its code is recorded.
func (ss *serverSpan) end(r *http.Request, status int) {
	if ss == nil {
		return
	}
	if ss.span == nil {
		ss.begin(r.Context(), r, false)
	}
	ss.span.SetAttributes(attribute.Int("http.response.status_code", status))
	if ss.code != "" && status >= 400 {
		ss.span.SetAttributes(attribute.String("vaspd.error_code", ss.code))
	}
	if status >= 500 {
		ss.span.SetStatus(codes.Error, cmp.Or(ss.code, "HTTP "+strconv.Itoa(status)))
	}
	ss.span.End()
}

// noteErrorCode records the error code a request is answered with, for its
// span and audit event: vaspd's or UMA's code, never the message, which may quote what
// the caller or a counterparty sent.
func noteErrorCode(ctx context.Context, code string) {
	if n := noteOf(ctx); n != nil {
		n.code = code // for the audit trail (audit.go)
	}
	if ss := serverSpanOf(ctx); ss != nil {
		ss.code = code
	}
}

// routeOf is a mux pattern's path ("GET /users/{id}" → "/users/{id}"), or
// "" for the catch-all "/" (an unrouted request).
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimSpace(pattern[i+1:])
	}
	if pattern == "/" {
		return ""
	}
	return pattern
}

// methodAttr is the method as OpenTelemetry records it: a known one as is,
// any other "_OTHER" (net/http accepts any token as a method).
func methodAttr(m string) string {
	if l := methodLabel(m); l != "OTHER" {
		return l
	}
	return "_OTHER"
}
