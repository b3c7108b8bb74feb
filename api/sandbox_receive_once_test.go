package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestSandboxReceiveIdempotent: POST /sandbox/receive takes an
// Idempotency-Key as /sandbox/send does. A retry with the key and the same
// body answers the first's transaction, copies sent at once pay once, and
// the key with another body is 422 IDEMPOTENCY_KEY_REUSED. Each call made
// a new payment: a client retrying after a lost answer paid its user twice.
func TestSandboxReceiveIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, _ := newSandboxFixture(t, db, nil)
		ctx := context.Background()
		bob := func() int64 {
			b, err := f.ledger.Balance(ctx, db, ledger.UserAccount(f.bob.UserID), "EUR")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		body := func(amount int64) string {
			return mustJSON(t, map[string]any{"senderUmaAddress": "$success.eur@" + vasp.SandboxDomain,
				"receiverUmaAddress": "$bob@" + f.domain, "receivingCurrencyCode": "EUR", "receivingCurrencyAmount": amount})
		}
		const copies = 4
		ids := make([]string, copies)
		var wg sync.WaitGroup
		for i := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, raw, m := f.call(t, "POST", "/sandbox/receive", &f.admin, body(300), "Idempotency-Key", "receive-1")
				if st != 200 {
					t.Errorf("copy %d: %d %s", i, st, raw)
					return
				}
				ids[i], _ = m["id"].(string)
			}()
		}
		wg.Wait()
		for i := range ids {
			if ids[i] == "" || ids[i] != ids[0] {
				t.Fatalf("copies answered transactions %v, want one", ids)
			}
		}
		waitFor(t, func() bool {
			_, _, tx := f.call(t, "GET", "/transactions/"+ids[0], &f.admin, "")
			return tx["status"] == "COMPLETED"
		})
		// A retry later answers the first, as it is now.
		st, raw, m := f.call(t, "POST", "/sandbox/receive", &f.admin, body(300), "Idempotency-Key", "receive-1")
		if st != 200 || m["id"] != ids[0] || m["status"] != "COMPLETED" {
			t.Fatalf("retry: %d %s, want %s COMPLETED", st, raw, ids[0])
		}
		// The key with another body.
		st, raw, m = f.call(t, "POST", "/sandbox/receive", &f.admin, body(301), "Idempotency-Key", "receive-1")
		if st != 422 || m["code"] != "IDEMPOTENCY_KEY_REUSED" {
			t.Fatalf("key reused: %d %s", st, raw)
		}
		time.Sleep(100 * time.Millisecond) // a second credit would have come by now
		if got := bob(); got != 300 {
			t.Fatalf("bob has %d EUR cents, want 300: paid once", got)
		}
		// Without a key each call is a new payment; another key another.
		for _, h := range [][]string{nil, {"Idempotency-Key", "receive-2"}} {
			st, raw, m := f.call(t, "POST", "/sandbox/receive", &f.admin, body(300), h...)
			if st != 200 || m["id"] == ids[0] {
				t.Fatalf("new payment %v: %d %s", h, st, raw)
			}
		}
	})
}
