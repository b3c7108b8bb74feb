package delivery

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/store"
)

// Tracing (Options.Tracer): each attempt is a client span naming the
// endpoint, the event type, the webhookId, the delivery, the attempt's
// number and its outcome; never the URL (which may carry a token) nor the
// payload.
//
// A queued attempt's span is the root of a trace of its own, linked
// ("vaspd.link" = "enqueued_by") to the span that enqueued its event: the
// event row keeps that span's traceparent (webhook_events.trace_parent,
// written by enqueue and Send when the span is ours and sampled), so every
// attempt of every delivery of the event, retries, redeliveries and
// replays included, points back at the request that caused it. A link,
// never the parent: a retry three days later must not extend a request's
// trace long finished, whose UIs then show a request of three days. A
// synchronous attempt (the INCOMING_PAYMENT approval) is a child of the
// span that sends it, in the trace vaspd started for the UMA request,
// never the sending VASP's.
//
// An attempt carries its span's W3C traceparent to the platform: the
// receiver is the operator's own platform, as trusted as the platform API
// (which continues the platform's traceparent), and its handler can then
// join the trace. It is the attempt's own span, not the enqueuer's, and
// says nothing of the payment. The signatures cover the body alone, so the
// header changes none.

// traceContext writes W3C traceparent and tracestate headers.
var traceContext = propagation.TraceContext{}

// attemptSpan is what an attempt's span names besides the endpoint.
type attemptSpan struct {
	deliveryID string
	webhookID  string
	eventType  string // "": read from the body, if the span records
	number     int64  // 1 for the first attempt
	enqueuedBy string // the event's stored traceparent, linked to; "" for none
}

// tracedAttempt is attempt inside its span, when tracing.
func (s *Service) tracedAttempt(ctx context.Context, t target, a attemptSpan, body []byte, bodyLimit int64) attemptResult {
	if s.opt.Tracer == nil {
		return s.attempt(ctx, t, a.webhookID, body, bodyLimit)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("vaspd.webhook.endpoint_id", t.id),
		attribute.String("vaspd.webhook.id", a.webhookID),
		attribute.String("vaspd.webhook.delivery_id", a.deliveryID),
		attribute.Int64("vaspd.webhook.attempt", a.number),
	)}
	if sc, ok := parseTraceParent(a.enqueuedBy); ok {
		// Its own attribute slice: the SDK may normalize a link's in place.
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc,
			Attributes: []attribute.KeyValue{attribute.String("vaspd.link", "enqueued_by")}}))
	}
	ctx, span := s.opt.Tracer.Start(ctx, "webhook attempt", opts...)
	defer span.End()
	if span.IsRecording() {
		if a.eventType == "" {
			a.eventType = eventTypeOf(body)
		}
		span.SetAttributes(attribute.String("vaspd.webhook.event_type", a.eventType))
	}
	res := s.attempt(ctx, t, a.webhookID, body, bodyLimit)
	if res.status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", res.status))
	}
	outcome := "delivered"
	switch {
	case res.err != nil:
		outcome = "failed"
		span.SetStatus(codes.Error, attemptFailure(res))
	case classify(res.status) == outcomeGone:
		outcome = "gone"
		span.SetStatus(codes.Error, "HTTP 410")
	case classify(res.status) != outcomeDelivered:
		outcome = "failed"
		span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(res.status))
	}
	span.SetAttributes(attribute.String("vaspd.webhook.outcome", outcome))
	return res
}

// injectTraceContext writes the attempt's traceparent into its request
// when tracing (see above).
func (s *Service) injectTraceContext(ctx context.Context, h http.Header) {
	if s.opt.Tracer != nil {
		traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// eventTypeOf reads an event's type from its stored payload.
func eventTypeOf(body []byte) string {
	var ev struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return ""
	}
	return ev.Type
}

// attemptFailure says how an attempt failed without the error's text.
func attemptFailure(res attemptResult) string {
	switch err := res.err; {
	case res.latency == 0 && res.status == 0:
		return "not sent" // building or signing the request failed
	case errors.Is(err, ssrf.ErrRefused):
		return "refused: non-public address"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, new(invalidStatusError)):
		return "invalid status code"
	}
	return "no answer"
}

// enqueuedBy is the W3C traceparent of the span in ctx, stored with an
// event for its attempts to link to, or "" (stored as NULL) unless that
// span is one of ours, recording and sampled: an unsampled trace is not
// exported, so a link could lead nowhere, and a context only extracted
// from a header (no span of ours started under it) names a span vaspd
// never recorded. Only the traceparent: tracestate and baggage are the
// platform's to set, and nothing of them belongs in our database.
func enqueuedBy(ctx context.Context) string {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return ""
	}
	return traceParentOf(span.SpanContext())
}

// traceParentOf is sc as a traceparent, or "" unless it is valid, ours
// and sampled.
func traceParentOf(sc trace.SpanContext) string {
	if !sc.IsSampled() || sc.IsRemote() || !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// traceEnqueue returns enqueuedBy(ctx) for an event enqueued in tx and,
// once tx has committed, adds a "webhook enqueued" event naming its
// webhookId and type to the enqueuing span: the link is on the attempt's
// span, and a trace backend that cannot search links (many cannot) finds
// a request's webhooks by the webhookId its trace names.
func traceEnqueue(ctx context.Context, tx *store.Tx, id, typ string) string {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return ""
	}
	tx.AfterCommit(func() {
		span.AddEvent("webhook enqueued", trace.WithAttributes(
			attribute.String("vaspd.webhook.id", id), attribute.String("vaspd.webhook.event_type", typ)))
	})
	return traceParentOf(span.SpanContext())
}

// parseTraceParent reads a traceparent enqueuedBy wrote: exactly
// "00-<32 hex>-<16 hex>-<2 hex>", lower case, ids not zero. Anything else
// (a hand edit, a later version's format) is no link: the column names a
// span to point at, and the delivery never depends on it.
func parseTraceParent(v string) (trace.SpanContext, bool) {
	const n = len("00-") + 32 + 1 + 16 + 1 + 2
	if len(v) != n || v[:3] != "00-" || v[35] != '-' || v[52] != '-' {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(v[3:35])
	if err != nil {
		return trace.SpanContext{}, false
	}
	sid, err := trace.SpanIDFromHex(v[36:52])
	if err != nil {
		return trace.SpanContext{}, false
	}
	flags, err := hex.DecodeString(v[53:])
	if err != nil || v[53:] != strings.ToLower(v[53:]) {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid,
		TraceFlags: trace.TraceFlags(flags[0]), Remote: true})
	return sc, sc.IsValid()
}
