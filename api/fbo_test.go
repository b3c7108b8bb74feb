package api_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// payBoth sends the same request to POST /quotes/{q}/execute and to
// POST /fbo/confirm/{q}, and fails unless both answer the same status and
// body: the confirm route is the execute operation under UMAaaS's name.
func (f *payFixture) payBoth(t *testing.T, q string, tok *auth.CreatedToken, headers ...string) (int, []byte) {
	t.Helper()
	path := url.PathEscape(q)
	st1, raw1, _ := f.call(t, "POST", "/quotes/"+path+"/execute", tok, "", headers...)
	st2, raw2, _ := f.call(t, "POST", "/fbo/confirm/"+path, tok, "", headers...)
	if st1 != st2 || !bytes.Equal(raw1, raw2) {
		t.Fatalf("quote %q:\n  execute: %d %s\n  confirm: %d %s", q, st1, raw1, st2, raw2)
	}
	return st1, raw1
}

// outgoingPayments counts the payments made for quote q.
func (f *payFixture) outgoingPayments(t *testing.T, q string) int {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE direction = 'OUTGOING' AND quote_id = $1`, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFBOConfirm: POST /fbo/confirm/{quoteId} (UMAaaS's fboConfirm) is
// POST /quotes/{quoteId}/execute: the same permission, Idempotency-Key,
// errors and answer, and a quote confirmed and executed, in either order
// or at once, is paid once.
func TestFBOConfirm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)

		t.Run("refusals", func(t *testing.T) {
			for _, id := range []string{vaspd.NewID(vaspd.IDQuote), "nope", f.alice.UserID} {
				st, raw := f.payBoth(t, id, &f.admin)
				wantAPIError(t, st, raw, 404, vaspd.CodeQuoteNotFound)
			}
			q := f.quote(t, 100)
			st, raw := f.payBoth(t, q, nil)
			wantAPIError(t, st, raw, 401, vaspd.CodeUnauthorized)
			st, raw = f.payBoth(t, q, &f.viewer)
			wantAPIError(t, st, raw, 403, vaspd.CodeForbidden)
			st, raw = f.payBoth(t, q, &f.admin, "Idempotency-Key", strings.Repeat("k", 256))
			wantAPIError(t, st, raw, 400, vaspd.CodeInvalidInput)

			big := f.quote(t, 5_000_000) // € 50,000 > $1,000
			st, raw = f.payBoth(t, big, &f.admin)
			wantAPIError(t, st, raw, 400, vaspd.CodeInsufficientBalance)
			// As a withdrawal's overdraft says: what is there, what was needed.
			var e struct {
				Details struct {
					Currency            string
					Available, Required *int64
				}
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Details.Currency != "USD" || e.Details.Available == nil ||
				e.Details.Required == nil || *e.Details.Required <= *e.Details.Available {
				t.Fatalf("details of an overdraft: %s", raw)
			}

			expired := f.quote(t, 100)
			if _, err := db.ExecContext(t.Context(), `UPDATE uma_quotes SET expires_at = $1 WHERE id = $2`,
				store.Micros(time.Now().Add(-time.Minute)), expired); err != nil {
				t.Fatal(err)
			}
			st, raw = f.payBoth(t, expired, &f.admin)
			wantAPIError(t, st, raw, 409, vaspd.CodeQuoteExpired)
			for _, q := range []string{q, big, expired} {
				if n := f.outgoingPayments(t, q); n != 0 {
					t.Fatalf("refused quote %s: %d payments", q, n)
				}
			}
		})

		// Either order: the second call answers the first's transaction,
		// as an execute of an executed quote does, and nothing more is paid.
		for _, first := range []string{"/fbo/confirm/%s", "/quotes/%s/execute"} {
			t.Run("first "+strings.Split(first, "/")[1], func(t *testing.T) {
				q := f.quote(t, 100)
				st, raw, m := f.call(t, "POST", strings.Replace(first, "%s", q, 1), &f.admin, "", "Idempotency-Key", "once-"+q)
				if st != 200 || m["type"] != "OUTGOING" || (m["status"] != "PROCESSING" && m["status"] != "COMPLETED") {
					t.Fatalf("first pay: %d %s", st, raw)
				}
				if spec := specschema.IfShared(t); spec != nil && strings.HasPrefix(first, "/fbo") {
					if r := spec.CheckResponse("POST", "/fbo/confirm/{quoteId}", 200, raw); !r.OK() {
						t.Errorf("confirm's answer breaks the UMAaaS schema:\n%s\n%s", r, raw)
					}
				}
				for _, key := range []string{"once-" + q, ""} {
					st, again := f.payBoth(t, q, &f.admin, "Idempotency-Key", key)
					if st != 200 || !strings.Contains(string(again), `"id":"`+m["id"].(string)+`"`) {
						t.Fatalf("paid again (key %q): %d %s, first %s", key, st, again, raw)
					}
				}
				if n := f.outgoingPayments(t, q); n != 1 {
					t.Fatalf("%d payments for one quote", n)
				}
				// The key is execute's: used again for another quote, by
				// either route, it is refused.
				other := f.quote(t, 100)
				st, again := f.payBoth(t, other, &f.admin, "Idempotency-Key", "once-"+q)
				wantAPIError(t, st, again, 422, vaspd.CodeIdempotencyKeyReused)
			})
		}

		t.Run("at once", func(t *testing.T) {
			q := f.quote(t, 1000)
			const n = 8
			var wg sync.WaitGroup
			statuses, ids, raws := make([]int, n), make([]string, n), make([][]byte, n)
			start := make(chan struct{}) // all at once, so that they overlap
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := "/quotes/" + q + "/execute"
					if i%2 == 0 {
						path = "/fbo/confirm/" + q
					}
					key := ""
					if i%4 < 2 {
						key = "race-" + q
					}
					<-start
					st, raw, m := f.call(t, "POST", path, &f.admin, "", "Idempotency-Key", key)
					statuses[i], raws[i] = st, raw
					ids[i], _ = m["id"].(string)
				}()
			}
			close(start)
			wg.Wait()
			for i := range n {
				if statuses[i] != 200 || ids[i] == "" || ids[i] != ids[0] {
					t.Fatalf("call %d: %d %s (first answered %s)", i, statuses[i], raws[i], ids[0])
				}
			}
			if got := f.outgoingPayments(t, q); got != 1 {
				t.Fatalf("%d payments for one quote", got)
			}
		})
	})
}
