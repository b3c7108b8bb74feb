package vasp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/uma"
)

// Tracing (Options.Tracer): a client span for every call to a counterparty
// VASP, made by the HTTP client's transport, so that key fetches (made by
// uma.KeyFetcher over the same client) are seen too; an internal span for
// each invoice issued and each payment sent.
//
// Nothing of ours reaches the counterparty: no traceparent, tracestate or
// baggage header is ever added to a request to another VASP (another
// company: a correlation id would let it tie our requests together, and
// to our platform's). Spans record the counterparty's domain, the call's
// name and its status, never its URL (an lnurlp or payreq URL names the
// user, a callback URL may carry a token), and a failure by kind
// (timeout, refused…), never an error's text, which quotes the URL. The
// Lightning spans name our transaction id, not the payment hash, which
// identifies the payment on the network to anyone who sees the trace.

type callKey struct{}

// call names the counterparty call made with ctx ("lnurlp", "payreq",
// "utxo_callback"), for its span; without tracing ctx is returned as is.
func (s *Service) call(ctx context.Context, name string) context.Context {
	if s.opt.Tracer == nil {
		return ctx
	}
	return context.WithValue(ctx, callKey{}, name)
}

// callName is the name of the call req is: given by call, or else the key
// fetch, known by its path, or "call".
func callName(req *http.Request) string {
	if n, ok := req.Context().Value(callKey{}).(string); ok {
		return n
	}
	if req.URL.Path == "/.well-known/lnurlpubkey" {
		return "lnurlpubkey"
	}
	return "call"
}

// tracedTransport makes a client span of each request to a counterparty.
// It changes nothing of the request: the span's context is not propagated.
type tracedTransport struct {
	base   http.RoundTripper
	tracer trace.Tracer
}

// traceClient is c with a transport that traces each call (c is not
// changed: the caller may use it elsewhere).
func traceClient(c *http.Client, tracer trace.Tracer) *http.Client {
	traced := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	traced.Transport = &tracedTransport{base: base, tracer: tracer}
	return &traced
}

// RoundTrip ends the span when the answer's headers have arrived (the
// callers read at most 1 MiB of body after that).
func (t *tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Hostname()),
		attribute.String("vaspd.counterparty", req.URL.Host),
	}
	if p, err := strconv.Atoi(req.URL.Port()); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	_, span := t.tracer.Start(req.Context(), "uma "+callName(req), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, failureKind(err))
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

// failureKind says how a call failed without the error's text.
func failureKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ssrf.ErrRefused):
		return "refused: non-public address"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "connection failed"
}

// startSpan starts an internal span about our transaction txID, or
// returns a nil span without tracing.
func (s *Service) startSpan(ctx context.Context, name, txID string) (context.Context, trace.Span) {
	if s.opt.Tracer == nil {
		return ctx, nil
	}
	return s.opt.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("vaspd.transaction_id", txID)))
}

// endSpan ends span (nil: not tracing), an error with err's code.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, errorCode(err))
	}
	span.End()
}

// endPaySpan ends a payment's span with its outcome: the node's status, or
// why there is none (refused, or unknown: left to the resolver).
func endPaySpan(span trace.Span, p lightning.Payment, err error) {
	if span == nil {
		return
	}
	switch {
	case err != nil && refused(err):
		span.SetStatus(codes.Error, "refused: "+string(reasonOf(err)))
	case err != nil:
		span.SetStatus(codes.Error, "outcome unknown")
	default:
		span.SetAttributes(attribute.String("vaspd.payment_status", string(p.Status)))
		if p.Status == lightning.StatusFailed {
			span.SetStatus(codes.Error, "failed: "+string(p.FailureReason))
		}
	}
	span.End()
}

// errorCode is err's vaspd or UMA error code, or "error": never its text,
// which may quote what a counterparty or the node said.
func errorCode(err error) string {
	var ve *vaspd.Error
	if errors.As(err, &ve) {
		return ve.Code
	}
	var ue *uma.Error
	if errors.As(err, &ue) && ue.Code != "" {
		return string(ue.Code)
	}
	return "error"
}
