package vasp_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// The invoice a payreq gets is an internal span under the request's, naming
// our transaction, not the invoice, its hash or the payer.
func TestInvoiceIsTraced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		defer tp.Shutdown(t.Context())
		s := w.service(t, func(o *vasp.Options) { o.Tracer = tp.Tracer("test") })
		ctx, parent := tp.Tracer("test").Start(t.Context(), "POST /api/uma/payreq/{user}")
		resp, err := s.PayRequest(ctx, "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
		parent.End()
		if err != nil {
			t.Fatal(err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %d, %v", len(ts), err)
		}
		var span sdktrace.ReadOnlySpan
		for _, sp := range rec.Ended() {
			if sp.Name() == "lightning create invoice" {
				span = sp
			}
		}
		if span == nil || span.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("no invoice span under the request's: %v", rec.Ended())
		}
		for _, a := range span.Attributes() {
			v := a.Value.String()
			if a.Key == "vaspd.transaction_id" && v != ts[0].ID {
				t.Errorf("transaction id %q, want %q", v, ts[0].ID)
			}
			if strings.Contains(v, resp.PR) || strings.Contains(v, ts[0].PaymentHash) || strings.Contains(v, "alice") {
				t.Errorf("attribute %s = %q", a.Key, v)
			}
		}
	})
}

// Executing a quote pays in an internal span under the execute's, naming
// our transaction and the node's outcome, not the invoice or its hash; the
// quote's payreq to the counterparty was a client span.
func TestPaymentIsTraced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		defer tp.Shutdown(t.Context())
		s := h.w.service(t, func(o *vasp.Options) { o.Tracer = tp.Tracer("test") })
		ctx, parent := tp.Tracer("test").Start(t.Context(), "POST /quotes/{id}/execute")
		tr, err := s.ExecuteQuote(ctx, q.ID, "")
		parent.End()
		if err != nil {
			t.Fatal(err)
		}
		var span sdktrace.ReadOnlySpan
		for _, sp := range rec.Ended() {
			if sp.Name() == "lightning pay" {
				span = sp
			}
		}
		if span == nil || span.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("no payment span under the execute's: %v", rec.Ended())
		}
		attrs := map[string]string{}
		for _, a := range span.Attributes() {
			attrs[string(a.Key)] = a.Value.String()
			if strings.Contains(a.Value.String(), q.PaymentHash) {
				t.Errorf("attribute %s holds the payment hash", a.Key)
			}
		}
		if attrs["vaspd.transaction_id"] != tr.ID || attrs["vaspd.payment_status"] != "SUCCEEDED" {
			t.Fatalf("attributes %v (transaction %s is %s)", attrs, tr.ID, tr.Status)
		}
		// Its OUTGOING_PAYMENT webhook keeps the execute's span, which
		// the webhook's attempts link to (package delivery).
		var stored sql.NullString
		if err := db.QueryRowContext(t.Context(), `SELECT trace_parent FROM webhook_events WHERE type = 'OUTGOING_PAYMENT'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		sc := parent.SpanContext()
		if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; stored.String != want {
			t.Fatalf("OUTGOING_PAYMENT event's trace_parent %q, want the execute's %q", stored.String, want)
		}
	})
}
