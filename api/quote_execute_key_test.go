package api_test

import (
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestExecuteKeyOfAnotherQuote: an Idempotency-Key that executed one
// quote is refused (422 IDEMPOTENCY_KEY_REUSED) on an execute of any
// other quote, whatever that quote's state: one already executed (under
// another key, or none) answered its own transaction as a 200, as if the
// request the key stands for had been answered, and one expired said 409
// QUOTE_EXPIRED. The key's own quote still replays its transaction.
func TestExecuteKeyOfAnotherQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q1, q2 := f.quote(t, 100), f.quote(t, 100)
		status, raw, m1 := f.call(t, "POST", "/quotes/"+q1+"/execute", &f.admin, "", "Idempotency-Key", "key-q1")
		if status != 200 {
			t.Fatalf("execute: %d %s", status, raw)
		}
		if status, raw, _ = f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, ""); status != 200 {
			t.Fatalf("execute: %d %s", status, raw)
		}
		status, raw, _ = f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, "", "Idempotency-Key", "key-q1")
		wantAPIError(t, status, raw, 422, vaspd.CodeIdempotencyKeyReused)
		status, raw, _ = f.call(t, "POST", "/fbo/confirm/"+q2, &f.admin, "", "Idempotency-Key", "key-q1")
		wantAPIError(t, status, raw, 422, vaspd.CodeIdempotencyKeyReused)

		// The key's own quote replays, as does the other quote without it.
		status, raw, m := f.call(t, "POST", "/quotes/"+q1+"/execute", &f.admin, "", "Idempotency-Key", "key-q1")
		if status != 200 || m["id"] != m1["id"] {
			t.Fatalf("replay: %d %s, want transaction %v", status, raw, m1["id"])
		}
		if status, raw, _ = f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, ""); status != 200 {
			t.Fatalf("execute again: %d %s", status, raw)
		}
	})
}

// TestExecuteMarksReplays: an execute (or /fbo/confirm) of a quote
// executed already pays nothing and answers its transaction, marked
// Idempotent-Replayed: true as every idempotent route's retry is (with the
// key or without: the quote is executed once); the execute that paid is
// not marked.
func TestExecuteMarksReplays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 100)
		for i, c := range []struct {
			path     string
			key      string
			replayed string
		}{
			{"/quotes/" + q + "/execute", "exec-1", ""},
			{"/quotes/" + q + "/execute", "exec-1", "true"},
			{"/quotes/" + q + "/execute", "", "true"},
			{"/fbo/confirm/" + q, "exec-1", "true"},
		} {
			var h []string
			if c.key != "" {
				h = []string{"Idempotency-Key", c.key}
			}
			status, raw, _, header := f.callHeader(t, "POST", c.path, &f.admin, "", h...)
			if status != 200 || header.Get("Idempotent-Replayed") != c.replayed {
				t.Fatalf("call %d, POST %s: %d %s, Idempotent-Replayed %q, want %q", i, c.path, status, raw,
					header.Get("Idempotent-Replayed"), c.replayed)
			}
		}
		if n := f.outgoingPayments(t, q); n != 1 {
			t.Fatalf("%d payments, want 1", n)
		}
	})
}
