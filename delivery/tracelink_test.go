package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		tp, rec := recording(t)
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
		// The queued ones' attempts link to it, or have no link.
		if n := stepAll(t, s); n != 2*len(ctxs) {
			t.Fatalf("%d attempts, want %d", n, 2*len(ctxs))
		}
		for i, id := range ids[:2*len(ctxs)] {
			sp := attemptSpans(rec, id)
			if len(sp) != 1 {
				t.Fatalf("event %d: %d spans", i, len(sp))
			}
			if want[i].IsValid() {
				checkLinked(t, sp[0], want[i])
			} else {
				checkUnlinked(t, sp[0])
			}
		}
	})
}

// stepAll steps until no delivery is due (a new endpoint's slow start
// lets a claim take a few only) and returns how many attempts were made.
func stepAll(t *testing.T, s *Service) int {
	t.Helper()
	total := 0
	for {
		n := step(t, s)
		if n == 0 {
			return total
		}
		total += n
	}
}

// attemptSpans are the ended "webhook attempt" spans of webhookID.
func attemptSpans(rec *tracetest.SpanRecorder, webhookID string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "webhook attempt" && spanAttrs(sp)["vaspd.webhook.id"] == webhookID {
			out = append(out, sp)
		}
	}
	return out
}

// checkLinked fails unless sp is the root of a trace of its own with one
// link, "enqueued_by", to the span sc.
func checkLinked(t *testing.T, sp sdktrace.ReadOnlySpan, sc trace.SpanContext) {
	t.Helper()
	if sp.Parent().IsValid() || sp.SpanContext().TraceID() == sc.TraceID() {
		t.Fatalf("attempt span has parent %v, trace %v: want a root of a trace of its own", sp.Parent(), sp.SpanContext().TraceID())
	}
	links := sp.Links()
	if len(links) != 1 {
		t.Fatalf("%d links, want 1", len(links))
	}
	l := links[0]
	if l.SpanContext.TraceID() != sc.TraceID() || l.SpanContext.SpanID() != sc.SpanID() || !l.SpanContext.IsRemote() {
		t.Fatalf("link to %v, want the enqueuing span %v", l.SpanContext, sc)
	}
	if len(l.Attributes) != 1 || l.Attributes[0].Key != "vaspd.link" || l.Attributes[0].Value.AsString() != "enqueued_by" {
		t.Fatalf("link attributes %v", l.Attributes)
	}
}

// checkUnlinked fails unless sp has no link.
func checkUnlinked(t *testing.T, sp sdktrace.ReadOnlySpan) {
	t.Helper()
	if len(sp.Links()) != 0 {
		t.Fatalf("links %v, want none", sp.Links())
	}
}

// A queued attempt's span links to the span that enqueued its event, and
// stays the root of a trace of its own; a redelivery of it, and every
// endpoint's delivery of one event, link to the same span.
func TestQueuedAttemptLinksToTheEnqueuingSpan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tp, rec := recording(t)
		tr := tp.Tracer("test")
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tr })
		rc := newReceiver(t)
		mustEndpoint(t, s, rc.URL)
		mustEndpoint(t, s, rc.URL+"/second")

		ctx, parent := tr.Start(context.Background(), "POST /quotes/{id}/execute")
		id := enqueueIn(ctx, t, s, Event{Type: TypeOutgoingPayment})[0]
		parent.End()
		sc := parent.SpanContext()
		if got, ok := storedTraceParent(t, s, id); !ok || got != traceParentOfSpan(sc) {
			t.Fatalf("trace_parent %q (%v), want %q", got, ok, traceParentOfSpan(sc))
		}
		// The request's span names the webhook it enqueued, for a search
		// by webhookId where the backend cannot search links.
		var req sdktrace.ReadOnlySpan
		for _, sp := range rec.Ended() {
			if sp.SpanContext().SpanID() == sc.SpanID() {
				req = sp
			}
		}
		if evs := req.Events(); len(evs) != 1 || evs[0].Name != "webhook enqueued" || len(evs[0].Attributes) != 2 ||
			evs[0].Attributes[0].Value.AsString() != id || evs[0].Attributes[1].Value.AsString() != TypeOutgoingPayment {
			t.Fatalf("the enqueuing span's events: %+v", evs)
		}
		if n := step(t, s); n != 2 {
			t.Fatalf("%d attempts, want 2", n)
		}
		spans := attemptSpans(rec, id)
		if len(spans) != 2 {
			t.Fatalf("%d attempt spans", len(spans))
		}
		for _, sp := range spans {
			checkLinked(t, sp, sc)
		}
		// The traceparent sent is the attempt's, not the enqueuer's.
		for _, r := range rc.requests() {
			if h := r.header.Get("traceparent"); h == traceParentOfSpan(sc) || h == "" {
				t.Fatalf("traceparent sent %q", h)
			}
		}

		// A redelivery, later, from another request: linked to the
		// request that enqueued the event, not to the one redelivering.
		ds, err := s.ListDeliveries(context.Background(), DeliveryFilter{WebhookID: id}, "", 10)
		if err != nil || len(ds) != 2 {
			t.Fatalf("deliveries %v %v", ds, err)
		}
		rctx, again := tr.Start(context.Background(), "POST /webhooks/deliveries/{id}/redeliver")
		if _, err := s.Redeliver(rctx, ds[0].ID); err != nil {
			t.Fatal(err)
		}
		again.End()
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
		if spans = attemptSpans(rec, id); len(spans) != 3 {
			t.Fatalf("%d attempt spans", len(spans))
		}
		checkLinked(t, spans[2], sc)

		// A rolled-back enqueue names no webhook.
		ctx, rolled := tr.Start(context.Background(), "POST /quotes/{id}/execute")
		boom := errors.New("rolled back")
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := s.Enqueue(ctx, tx, Event{Type: TypeOutgoingPayment}); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		rolled.End()
		if evs := rec.Ended()[len(rec.Ended())-1].Events(); len(evs) != 0 {
			t.Fatalf("a rolled-back enqueue's span has events %+v", evs)
		}
	})
}

// Rows handed to the running worker at enqueue (handoff.go), never read
// back from the database, link as claimed ones do.
func TestHandedOffAttemptLinksToTheEnqueuingSpan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tp, rec := recording(t)
		tr := tp.Tracer("test")
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tr })
		claims := countClaims(s)
		rc := newReceiver(t)
		mustEndpoint(t, s, rc.URL)
		w := attach(t, s)
		prime(t, s, w)
		ctx, parent := tr.Start(context.Background(), "POST /quotes/{id}/execute")
		id := enqueueIn(ctx, t, s, Event{Type: TypeOutgoingPayment})[0]
		parent.End()
		if n := finish(t, w); n != 2 {
			t.Fatalf("%d attempts, want 2", n)
		}
		if c := claims.Load(); c != 1 {
			t.Fatalf("%d claims, want 1 (the priming event's): the row was not handed off", c)
		}
		sp := attemptSpans(rec, id)
		if len(sp) != 1 {
			t.Fatalf("%d spans", len(sp))
		}
		checkLinked(t, sp[0], parent.SpanContext())
	})
}

// A wide event's deliveries, written later by the fan-out's background
// transactions, link to the span that enqueued the event.
func TestFannedOutAttemptsLinkToTheEnqueuingSpan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tp, rec := recording(t)
		tr := tp.Tracer("test")
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tr })
		s.fanOutChunk = 2
		rc := newReceiver(t)
		for i := 0; i < 5; i++ {
			mustEndpoint(t, s, fmt.Sprintf("%s/%d", rc.URL, i))
		}
		ctx, parent := tr.Start(context.Background(), "POST /quotes/{id}/execute")
		id := enqueueIn(ctx, t, s, Event{Type: TypeOutgoingPayment})[0]
		parent.End()
		for {
			_, more, err := s.fanOutStep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !more {
				break
			}
		}
		if n := stepAll(t, s); n != 5 {
			t.Fatalf("%d attempts, want 5", n)
		}
		spans := attemptSpans(rec, id)
		if len(spans) != 5 {
			t.Fatalf("%d spans", len(spans))
		}
		for _, sp := range spans {
			checkLinked(t, sp, parent.SpanContext())
		}
	})
}

// A stored trace_parent that is not one vaspd writes (a hand edit, a bug,
// another version) gives no link and never fails the delivery.
func TestCorruptTraceParentIsNoLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tp, rec := recording(t)
		tr := tp.Tracer("test")
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tr })
		rc := newReceiver(t)
		mustEndpoint(t, s, rc.URL)
		bad := []string{
			"",
			"garbage",
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
			"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
			"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
			"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
			"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
			"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
		}
		ctx, parent := tr.Start(context.Background(), "POST /quotes/{id}/execute")
		var ids []string
		for range bad {
			ids = append(ids, enqueueIn(ctx, t, s, Event{Type: TypeTest})...)
		}
		parent.End()
		for i, id := range ids {
			if _, err := db.ExecContext(context.Background(), `UPDATE webhook_events SET trace_parent = $1 WHERE id = $2`, bad[i], id); err != nil {
				t.Fatal(err)
			}
		}
		if n := stepAll(t, s); n != len(bad) {
			t.Fatalf("%d attempts", n)
		}
		for i, id := range ids {
			if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
				t.Fatalf("%q: delivery %s", bad[i], d.Status)
			}
			spans := attemptSpans(rec, id)
			if len(spans) != 1 {
				t.Fatalf("%q: %d spans", bad[i], len(spans))
			}
			checkUnlinked(t, spans[0])
		}
	})
}

// A synchronous send is inside its caller's trace already (a child, no
// link), and its event keeps the caller's span: a redelivery of it, later
// and queued, links there.
func TestRedeliveredSyncSendLinksToItsRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tp, rec := recording(t)
		tr := tp.Tracer("test")
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tr })
		rc := newReceiver(t)
		e, _ := mustEndpoint(t, s, rc.URL)
		ctx, parent := tr.Start(context.Background(), "POST /api/uma/payreq/{user}")
		resp, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{EndpointID: e.ID})
		parent.End()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := storedTraceParent(t, s, resp.WebhookID); !ok || got != traceParentOfSpan(parent.SpanContext()) {
			t.Fatalf("trace_parent %q (%v)", got, ok)
		}
		spans := attemptSpans(rec, resp.WebhookID)
		if len(spans) != 1 || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("sync attempt spans %v", spans)
		}
		checkUnlinked(t, spans[0])
		if _, err := s.Redeliver(context.Background(), resp.DeliveryID); err != nil {
			t.Fatal(err)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		if spans = attemptSpans(rec, resp.WebhookID); len(spans) != 2 {
			t.Fatalf("%d spans", len(spans))
		}
		checkLinked(t, spans[1], parent.SpanContext())
	})
}

// Events stored before migration 0600 have no trace_parent: delivered
// after the upgrade, unlinked.
func TestUpgradeEventsWithoutTraceParent(t *testing.T) {
	us := store.Micros(t0)
	var rc *receiver
	storetest.EachUpgrade(t, 600, func(t *testing.T, old *sql.DB) {
		rc = newReceiver(t)
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, is_primary,
				timeout_ms, sign_ed25519, secret, prev_secret, prev_secret_until, failure_streak, backoff_until,
				created_at, updated_at, deleted_at)
				VALUES ('WebhookEndpoint:old', '%s', '', '', TRUE, '', FALSE, 0, FALSE, 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3', NULL, 0, 0, 0, %d, %d, 0)`,
				rc.URL, us, us),
			fmt.Sprintf(`INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES
				('Webhook:old', 'TEST', '{"type":"TEST","webhookId":"Webhook:old"}', %[1]d, %[1]d)`, us),
			fmt.Sprintf(`INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at,
				lease_token, first_attempt_at, last_status, last_error, created_at, updated_at, finished_at) VALUES
				('WebhookDelivery:old', 'Webhook:old', 'WebhookEndpoint:old', 'pending', 0, %[1]d, '', 0, 0, '', %[1]d, %[1]d, 0)`, us),
		} {
			if _, err := old.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		tp, rec := recording(t)
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Tracer = tp.Tracer("test") })
		if _, ok := storedTraceParent(t, s, "Webhook:old"); ok {
			t.Fatal("an old event has a trace_parent")
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		if d := onlyDelivery(t, s, "Webhook:old"); d.Status != StatusDelivered {
			t.Fatalf("delivery %s", d.Status)
		}
		spans := attemptSpans(rec, "Webhook:old")
		if len(spans) != 1 {
			t.Fatalf("%d spans", len(spans))
		}
		checkUnlinked(t, spans[0])
	})
}
