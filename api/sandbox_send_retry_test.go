package api_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestSandboxSendRetryIsTheSameTransfer: a retry of POST /sandbox/send for
// a quote it funded and paid answers the quote's transaction only when it
// is the same request: a transfer of another amount or currency is refused
// as it was before the quote was paid (400 naming the transfer made), and
// an Idempotency-Key that executed another quote is 422, as POST
// /quotes/{id}/execute answers it. Such retries were answered 200 with the
// transaction, as if the other transfer had been taken.
func TestSandboxSendRetryIsTheSameTransfer(t *testing.T) {
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
		q := f.quote(t, 100)
		_, _, quote := f.call(t, "GET", "/quotes/"+q, &f.admin, "")
		debit := int64(quote["totalSendingAmount"].(float64))
		st, raw, m := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit), "Idempotency-Key", "send-1")
		if st != 200 || m["status"] != "COMPLETED" {
			t.Fatalf("sandbox send: %d %s", st, raw)
		}
		id := m["id"]
		// Another quote executed with a key of its own.
		q2 := f.quote(t, 50)
		if st, raw, _ := f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, "", "Idempotency-Key", "exec-2"); st != 200 {
			t.Fatalf("execute: %d %s", st, raw)
		}
		before := alice()

		for _, tc := range []struct {
			body, key string
			status    int
			code      string
		}{
			{sandboxSendBody(q, "USD", debit+1), "send-1", 400, vaspd.CodeInvalidAmount},
			{sandboxSendBody(q, "USD", 1), "send-1", 400, vaspd.CodeInvalidAmount},
			{sandboxSendBody(q, "EUR", debit), "send-1", 400, vaspd.CodeInvalidCurrency},
			{sandboxSendBody(q, "USD", debit), "exec-2", 422, vaspd.CodeIdempotencyKeyReused},
		} {
			st, raw, _ := f.call(t, "POST", "/sandbox/send", &f.admin, tc.body, "Idempotency-Key", tc.key)
			if st != tc.status || !strings.Contains(string(raw), `"`+tc.code+`"`) {
				t.Errorf("retry %s (key %s): %d %s, want %d %s", tc.body, tc.key, st, raw, tc.status, tc.code)
			}
		}
		// The same request still answers the transaction.
		if st, raw, m := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "usd", debit), "Idempotency-Key", "send-1"); st != 200 || m["id"] != id {
			t.Errorf("retry: %d %s, want 200 %s", st, raw, id)
		}
		if got := alice(); got != before {
			t.Fatalf("retries moved money: alice has %d, had %d", got, before)
		}
		if n := f.outgoingPayments(t, q); n != 1 {
			t.Fatalf("%d payments, want 1", n)
		}
	})
}

// TestSandboxSendReferenceAnyCase: the reference is the quote's id, whose
// UUID hex is case-insensitive as every id's (GET /quotes/{id} finds the
// quote in upper case): POST /sandbox/send funds the quote in any case of
// it, and a retry in another case answers the same transaction. It was 404
// REFERENCE_NOT_FOUND for a quote that exists.
func TestSandboxSendReferenceAnyCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 100)
		upper := "Quote:" + strings.ToUpper(strings.TrimPrefix(q, "Quote:"))
		_, _, quote := f.call(t, "GET", "/quotes/"+upper, &f.admin, "")
		debit := int64(quote["totalSendingAmount"].(float64))
		st, raw, m := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(upper, "USD", debit))
		if st != 200 || m["status"] != "COMPLETED" || m["quoteId"] != q {
			t.Fatalf("sandbox send with reference %s: %d %s", upper, st, raw)
		}
		st, raw, m2 := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit))
		if st != 200 || m2["id"] != m["id"] {
			t.Fatalf("retry with reference %s: %d %s, want 200 %s", q, st, raw, m["id"])
		}
		if n := f.outgoingPayments(t, q); n != 1 {
			t.Fatalf("%d payments, want 1", n)
		}
	})
}

// denyToggle is a DomainPolicy that, once deny is set, also refuses every
// counterparty: a deny list changed after a quote was made.
type denyToggle struct {
	vasp.DomainPolicy
	deny *atomic.Bool
}

func (p denyToggle) CounterpartyAllowed(ctx context.Context, domain string) error {
	if p.deny.Load() {
		return vasp.DomainPolicy{Deny: []string{domain}}.CounterpartyAllowed(ctx, domain)
	}
	return p.DomainPolicy.CounterpartyAllowed(ctx, domain)
}

// TestSandboxSendRefusedExecuteDepositsNothing: a quote that its execute
// would refuse (here its receiver denied since the quote was made) is
// refused by POST /sandbox/send before the transfer is deposited, as an
// expired one is: the 403 moved nothing. The transfer was deposited on
// the user's balance and the call then answered 403, so a platform told
// "refused" had its user credited money it never asked for.
func TestSandboxSendRefusedExecuteDepositsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		deny := new(atomic.Bool)
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { o.Compliance = denyToggle{deny: deny} }, nil)
		ctx := context.Background()
		alice := func() int64 {
			b, err := f.ledger.Balance(ctx, db, ledger.UserAccount(f.alice.UserID), "USD")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		q := f.quote(t, 100)
		_, _, quote := f.call(t, "GET", "/quotes/"+q, &f.admin, "")
		debit := int64(quote["totalSendingAmount"].(float64))
		before := alice()
		deny.Store(true)
		st, raw, _ := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit))
		wantAPIError(t, st, raw, 403, vaspd.CodeCounterpartyNotAllowed)
		if got := alice(); got != before {
			t.Fatalf("the refused transfer moved money: alice has %d, had %d", got, before)
		}
		// Allowed again: the transfer is deposited and paid, once.
		deny.Store(false)
		st, raw, m := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(q, "USD", debit))
		if st != 200 || m["status"] != "COMPLETED" {
			t.Fatalf("sandbox send: %d %s", st, raw)
		}
		if got := alice(); got != before {
			t.Fatalf("alice has %d, want %d (one deposit, one debit)", got, before)
		}
	})
}

// TestSandboxSendPaidPaymentDepositsNothing: a quote for a payment paid
// already by another of its quotes (two retries of one failed payment,
// one executed) is refused by POST /sandbox/send before the transfer is
// deposited: 409 QUOTE_ALREADY_EXECUTED, nothing moved. The transfer was
// deposited and the execute then refused it with that 409.
func TestSandboxSendPaidPaymentDepositsNothing(t *testing.T) {
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
		failed := f.failedQuote(t, 1_00)
		var retries []string
		for range 2 {
			st, raw, m := f.retry(t, failed)
			if st != 201 {
				t.Fatalf("retry: %d %s", st, raw)
			}
			retries = append(retries, m["quoteId"].(string))
		}
		if st, raw, _ := f.call(t, "POST", "/quotes/"+retries[0]+"/execute", &f.admin, ""); st != 200 {
			t.Fatalf("execute: %d %s", st, raw)
		}
		before := alice()
		_, _, quote := f.call(t, "GET", "/quotes/"+retries[1], &f.admin, "")
		debit := int64(quote["totalSendingAmount"].(float64))
		st, raw, _ := f.call(t, "POST", "/sandbox/send", &f.admin, sandboxSendBody(retries[1], "USD", debit))
		wantAPIError(t, st, raw, 409, vaspd.CodeQuoteAlreadyExecuted)
		if got := alice(); got != before {
			t.Fatalf("the refused transfer moved money: alice has %d, had %d", got, before)
		}
	})
}
