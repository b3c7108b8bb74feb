package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd/internal/ssrf"
)

// Tracing (Options.Tracer): each attempt is a client span naming the
// endpoint, the event type, the webhookId, the delivery, the attempt's
// number and its outcome; never the URL (which may carry a token) nor the
// payload.
//
// An attempt carries its span's W3C traceparent to the platform: the
// receiver is the operator's own platform, as trusted as the platform API
// (which continues the platform's traceparent), and its handler can then
// join the trace. The id says nothing of the payment: a queued attempt's
// span is a trace of its own (the request that enqueued the event is long
// over), and a synchronous one's (the INCOMING_PAYMENT approval) is in
// the trace vaspd started for the UMA request, never the sending VASP's.
// The signatures cover the body alone, so the header changes none.

// traceContext writes W3C traceparent and tracestate headers.
var traceContext = propagation.TraceContext{}

// attemptSpan is what an attempt's span names besides the endpoint.
type attemptSpan struct {
	deliveryID string
	webhookID  string
	eventType  string // "": read from the body, if the span records
	number     int64  // 1 for the first attempt
}

// tracedAttempt is attempt inside its span, when tracing.
func (s *Service) tracedAttempt(ctx context.Context, t target, a attemptSpan, body []byte, bodyLimit int64) attemptResult {
	if s.opt.Tracer == nil {
		return s.attempt(ctx, t, a.webhookID, body, bodyLimit)
	}
	ctx, span := s.opt.Tracer.Start(ctx, "webhook attempt", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("vaspd.webhook.endpoint_id", t.id),
		attribute.String("vaspd.webhook.id", a.webhookID),
		attribute.String("vaspd.webhook.delivery_id", a.deliveryID),
		attribute.Int64("vaspd.webhook.attempt", a.number),
	))
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
	}
	return "no answer"
}

// enqueuedBy is the W3C traceparent of the span in ctx, stored with an
// event for its attempts to link to, or "" (stored as NULL) unless that
// span is one of ours and sampled: an unsampled trace is not recorded, so
// a link could lead nowhere, and a context only extracted from a header
// (no span of ours started under it) names a span vaspd never recorded.
// Only the traceparent: tracestate and baggage are the platform's to set,
// and nothing of them belongs in our database or our links.
func enqueuedBy(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() || sc.IsRemote() || !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}
