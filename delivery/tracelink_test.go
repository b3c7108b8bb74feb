package delivery

import (
	"context"
	"database/sql"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// recording is a tracer provider whose ended spans rec holds.
func recording(t *testing.T, opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithSpanProcessor(rec))...)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// enqueueIn is enqueue with ctx, the enqueuing request's context.
func enqueueIn(ctx context.Context, t *testing.T, s *Service, evs ...Event) []string {
	t.Helper()
	var ids []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = s.EnqueueMany(ctx, tx, evs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// storedTraceParent is the trace_parent column of event id ("" for NULL).
func storedTraceParent(t *testing.T, s *Service, id string) (string, bool) {
	t.Helper()
	var tp sql.NullString
	if err := s.db.QueryRowContext(context.Background(), `SELECT trace_parent FROM webhook_events WHERE id = $1`, id).Scan(&tp); err != nil {
		t.Fatal(err)
	}
	return tp.String, tp.Valid
}

func traceParentOfSpan(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}

// An event keeps the traceparent of the sampled span of ours that
// enqueued it (or sent it synchronously), each event of a transaction its
// own (on PostgreSQL the events' INSERT rides in the deliveries'); none
// without a span, under an unsampled one, or under a trace context only
// extracted from a header.
func TestEventsKeepTheirEnqueuersTraceParent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tp, _ := recording(t)
		tr := tp.Tracer("test")
		never, _ := recording(t, sdktrace.WithSampler(sdktrace.NeverSample()))
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tr })
		rc := newReceiver(t)
		e, _ := mustEndpoint(t, s, rc.URL)
		ctxA, a := tr.Start(context.Background(), "a")
		ctxB, b := tr.Start(context.Background(), "b")
		unsampled, u := never.Tracer("test").Start(context.Background(), "unsampled")
		tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
		sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
		remote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
		ctxs := []context.Context{ctxA, context.Background(), ctxB, unsampled, remote}
		want := []trace.SpanContext{a.SpanContext(), {}, b.SpanContext(), {}, {}}
		var ids []string
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			for _, ctx := range ctxs {
				id, err := s.Enqueue(ctx, tx, Event{Type: TypeTest})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// One at a time, too: a statement without any.
		for _, ctx := range ctxs {
			ids = append(ids, enqueueIn(ctx, t, s, Event{Type: TypeTest})...)
		}
		want = append(want, want...)
		// Sent synchronously.
		for i, ctx := range ctxs {
			resp, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{EndpointID: e.ID})
			if err != nil {
				t.Fatal(err)
			}
			ids, want = append(ids, resp.WebhookID), append(want, want[i])
		}
		a.End()
		b.End()
		u.End()
		for i, id := range ids {
			got, ok := storedTraceParent(t, s, id)
			if ok != want[i].IsValid() || (ok && got != traceParentOfSpan(want[i])) {
				t.Fatalf("event %d: trace_parent %q (%v), want %v", i, got, ok, want[i])
			}
		}
	})
}
