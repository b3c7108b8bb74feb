package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// sandboxSendBody is a POST /sandbox/send body.
func sandboxSendBody(reference, currency string, amount int64) string {
	return fmt.Sprintf(`{"reference":%q,"currencyCode":%q,"currencyAmount":%d}`, reference, currency, amount)
}

// TestSandboxSend: on the embedded node, POST /sandbox/send simulates the
// platform's bank transfer for a quote: the quote's user is credited the
// quote's sending amount (a ledger deposit) and the quote is executed as
// POST /fbo/confirm/{quoteId} executes it. A retry deposits and pays once
// and answers the same transaction; a transfer of another currency or
// amount, or for no quote, is refused and moves nothing.
func TestSandboxSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		ctx := context.Background()
		alice := func() int64 {
			b, err := f.ledger.Balance(ctx, db, ledger.UserAccount(f.alice.UserID), "USD")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		q := f.quote(t, 100) // €1.00 to bob
		_, _, quote := f.call(t, "GET", "/quotes/"+q, &f.admin, "")
		debit := int64(quote["totalSendingAmount"].(float64))
		before := alice()

		t.Run("refusals", func(t *testing.T) {
			st, raw, _ := f.call(t, "POST", "/sandbox/send", nil, sandboxSendBody(q, "USD", debit))
			wantAPIError(t, st, raw, 401, vaspd.CodeUnauthorized)
			st, raw, _ = f.call(t, "POST", "/sandbox/send", &f.viewer, sandboxSendBody(q, "USD", debit))
			wantAPIError(t, st, raw, 403, vaspd.CodeForbidden)
			for _, ref := range []string{vaspd.NewID(vaspd.IDQuote), "UMA-Q12345-REF", f.alice.UserID} {
				st, raw, _ = f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(ref, "USD", debit))
				wantAPIError(t, st, raw, 404, vaspd.CodeReferenceNotFound)
				if spec := specschema.IfShared(t); spec != nil {
					if r := spec.CheckResponse("POST", "/sandbox/send", 404, raw); !r.OK() {
						t.Errorf("404 breaks the UMAaaS schema:\n%s\n%s", r, raw)
					}
				}
			}
			for _, body := range []string{
				sandboxSendBody(q, "EUR", debit),
				sandboxSendBody(q, "USD", debit-1),
				sandboxSendBody(q, "USD", debit+1),
				sandboxSendBody(q, "USD", 0),
				sandboxSendBody("", "USD", debit),
				`{"reference":"` + q + `","currencyCode":"USD"}`,
				`{"reference":"` + q + `","currencyCode":"USD","currencyAmount":1,"extra":1}`,
			} {
				st, raw, _ = f.call(t, "POST", "/sandbox/send", &f.admin, body)
				if st != 400 {
					t.Fatalf("%s: got %d %s, want 400", body, st, raw)
				}
			}
			st, raw, _ = f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit+1))
			wantAPIError(t, st, raw, 400, vaspd.CodeInvalidAmount)
			if !strings.Contains(string(raw), fmt.Sprint(debit)) {
				t.Errorf("a wrong amount's message does not say the right one (%d): %s", debit, raw)
			}
			if got := alice(); got != before {
				t.Fatalf("refused transfers moved money: %d, was %d", got, before)
			}
			if n := f.outgoingPayments(t, q); n != 0 {
				t.Fatalf("refused transfers paid %d times", n)
			}
		})

		t.Run("pays once", func(t *testing.T) {
			st, raw, m := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit), "Idempotency-Key", "sandbox-1")
			if st != 200 || m["status"] != "COMPLETED" || m["quoteId"] != q {
				t.Fatalf("sandbox send: %d %s", st, raw)
			}
			id := m["id"]
			if spec := specschema.IfShared(t); spec != nil {
				if r := spec.CheckResponse("POST", "/sandbox/send", 200, raw); !r.OK() {
					t.Errorf("answer breaks the UMAaaS schema:\n%s\n%s", r, raw)
				}
			}
			for _, key := range []string{"sandbox-1", ""} {
				st, raw2, m2 := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit), "Idempotency-Key", key)
				if st != 200 || m2["id"] != id {
					t.Fatalf("retry (key %q): %d %s, first %s", key, st, raw2, raw)
				}
			}
			// Confirmed again through the FBO route: the same payment.
			st, _, m3 := f.call(t, "POST", "/fbo/confirm/"+q, &f.admin, "")
			if st != 200 || m3["id"] != id {
				t.Fatalf("confirm after sandbox send: %d %v", st, m3)
			}
			if n := f.outgoingPayments(t, q); n != 1 {
				t.Fatalf("%d payments, want 1", n)
			}
			// Deposited once, debited once: alice's balance is as before.
			if got := alice(); got != before {
				t.Fatalf("alice has %d, want %d (one deposit of %d, one debit)", got, before, debit)
			}
		})

		t.Run("crash between the deposit and the execute", func(t *testing.T) {
			// The deposit committed, the process died before executing:
			// a retry executes, and deposits no second time.
			q3 := f.quote(t, 70)
			_, _, m := f.call(t, "GET", "/quotes/"+q3, &f.admin, "")
			d3 := int64(m["totalSendingAmount"].(float64))
			b := alice()
			dep := "sandbox-send/" + q3
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := f.ledger.Transfer(ctx, tx, ledger.Deposit(dep, f.alice.UserID, "USD", d3, dep))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			st, raw, m := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q3, "USD", d3))
			if st != 200 || m["status"] != "COMPLETED" {
				t.Fatalf("retry after a crash: %d %s", st, raw)
			}
			if got := alice(); got != b {
				t.Fatalf("alice has %d, want %d", got, b)
			}
		})

		t.Run("quote executed without it", func(t *testing.T) {
			// A quote paid from the balance was not funded by a transfer:
			// a transfer after it would credit money no payment uses.
			q2 := f.quote(t, 50)
			_, _, m := f.call(t, "GET", "/quotes/"+q2, &f.admin, "")
			d2 := int64(m["totalSendingAmount"].(float64))
			if st, raw, _ := f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, ""); st != 200 {
				t.Fatalf("execute: %d %s", st, raw)
			}
			b := alice()
			st, raw, _ := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q2, "USD", d2))
			wantAPIError(t, st, raw, 409, vaspd.CodeQuoteAlreadyExecuted)
			if got := alice(); got != b {
				t.Fatalf("refused transfer moved money: %d, was %d", got, b)
			}
		})
	})
}
