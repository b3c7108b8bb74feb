package delivery

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.String()
	}
	return m
}

// Each attempt is a client span naming endpoint, event type, webhookId,
// delivery, attempt number and outcome, and its request carries the span's
// traceparent to the platform; nothing of the payload or URL is recorded.
func TestAttemptsAreTraced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		defer tp.Shutdown(context.Background())
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tp.Tracer("test") })
		rc := newReceiver(t)
		rc.status(500)
		e, _ := mustEndpoint(t, s, rc.URL+"/hooks?token=s3cret")
		id := enqueue(t, s, Event{Type: TypeIncomingPayment, Data: map[string]any{"note": "for-alice"}})
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		spans := rec.Ended()
		if len(spans) != 1 || spans[0].Name() != "webhook attempt" || spans[0].SpanKind() != trace.SpanKindClient {
			t.Fatalf("spans %v", spans)
		}
		sp := spans[0]
		a := spanAttrs(sp)
		want := map[string]string{"vaspd.webhook.endpoint_id": e.ID, "vaspd.webhook.id": id, "vaspd.webhook.event_type": TypeIncomingPayment,
			"vaspd.webhook.attempt": "1", "http.response.status_code": "500", "vaspd.webhook.outcome": "failed"}
		for k, v := range want {
			if a[k] != v {
				t.Errorf("%s = %q, want %q", k, a[k], v)
			}
		}
		for k, v := range a {
			if strings.Contains(v, "s3cret") || strings.Contains(v, "for-alice") {
				t.Errorf("%s = %q", k, v)
			}
		}
		if sp.Status().Code != codes.Error || sp.Status().Description != "HTTP 500" {
			t.Errorf("status %+v", sp.Status())
		}
		got := rc.requests()[0].header.Get("traceparent")
		if want := "00-" + sp.SpanContext().TraceID().String() + "-" + sp.SpanContext().SpanID().String() + "-01"; got != want {
			t.Errorf("traceparent %q, want the attempt's %q", got, want)
		}

		// The synchronous send is a child of its caller's span.
		ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /api/uma/payreq/{user}")
		rc.status(200)
		if _, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{EndpointID: e.ID}); err != nil {
			t.Fatal(err)
		}
		parent.End()
		sp = rec.Ended()[1]
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() || spanAttrs(sp)["vaspd.webhook.outcome"] != "delivered" || sp.Status().Code == codes.Error {
			t.Fatalf("sync attempt %v %+v", spanAttrs(sp), sp.Status())
		}
	})
}

// Without a tracer an attempt carries no traceparent.
func TestUntracedAttemptsCarryNoTraceContext(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	rc := newReceiver(t)
	mustEndpoint(t, s, rc.URL)
	enqueue(t, s, Event{Type: TypeIncomingPayment})
	step(t, s)
	if h := rc.requests()[0].header.Get("traceparent"); h != "" {
		t.Fatalf("traceparent %q", h)
	}
}
