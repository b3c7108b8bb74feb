package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// lookupBob looks $bob up for alice and returns the lookupId.
func (f *payFixture) lookupBob(t *testing.T) string {
	t.Helper()
	status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape("$bob@"+f.domain)+"?userId="+f.alice.UserID, &f.admin, "")
	if status != 200 {
		t.Fatalf("lookup: %d %s", status, raw)
	}
	return m["lookupId"].(string)
}

// quote makes a quote for alice paying bob amount euro cents.
func (f *payFixture) quote(t *testing.T, amount int64) string {
	t.Helper()
	body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":%d}`, f.lookupBob(t), amount)
	status, raw, m := f.call(t, "POST", "/quotes", &f.admin, body)
	if status != 201 {
		t.Fatalf("quote: %d %s", status, raw)
	}
	return m["quoteId"].(string)
}

func TestPaymentsLookupErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		bob := url.PathEscape("$bob@" + f.domain)
		tests := []struct {
			name, path string
			tok        bool
			status     int
			code       string
		}{
			{"no credentials", "/receiver/" + bob + "?userId=" + f.alice.UserID, false, 401, "UNAUTHORIZED"},
			{"no userId", "/receiver/" + bob, true, 400, vaspd.CodeInvalidInput},
			{"malformed userId", "/receiver/" + bob + "?userId=1%20OR%201", true, 400, vaspd.CodeInvalidInput},
			{"unknown user", "/receiver/" + bob + "?userId=" + vaspd.NewID(vaspd.IDUser), true, 404, "USER_NOT_FOUND"},
			{"not an UMA address", "/receiver/bob?userId=" + f.alice.UserID, true, 400, vaspd.CodeInvalidInput},
			{"unknown receiver", "/receiver/" + url.PathEscape("$nobody@"+f.domain) + "?userId=" + f.alice.UserID, true, 404, vaspd.CodeUserNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tok := &f.admin
				if !tc.tok {
					tok = nil
				}
				status, raw, _ := f.call(t, "GET", tc.path, tok, "")
				wantAPIError(t, status, raw, tc.status, tc.code)
			})
		}
		// The viewer may not transact.
		status, raw, _ := f.call(t, "GET", "/receiver/"+bob+"?userId="+f.alice.UserID, &f.viewer, "")
		wantAPIError(t, status, raw, 403, "FORBIDDEN")
	})
}

func TestPaymentsQuoteErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		lookup := f.lookupBob(t)
		body := func(lookupID, send, recv, side string, amount any) string {
			return fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":%q,"receivingCurrencyCode":%q,"lockedCurrencySide":%q,"lockedCurrencyAmount":%v}`,
				lookupID, send, recv, side, amount)
		}
		tests := []struct {
			name, body string
			status     int
			code       string
		}{
			{"unknown lookupId", body(vaspd.NewID(vaspd.IDLookup), "USD", "EUR", "SENDING", 100), 404, vaspd.CodeLookupRequestNotFound},
			{"foreign lookupId (a quote id)", body(vaspd.NewID(vaspd.IDQuote), "USD", "EUR", "SENDING", 100), 400, vaspd.CodeInvalidInput},
			{"garbage lookupId", body("'; DROP TABLE uma_quotes; --", "USD", "EUR", "SENDING", 100), 400, vaspd.CodeInvalidInput},
			{"bad lockedCurrencySide", body(lookup, "USD", "EUR", "BOTH", 100), 400, vaspd.CodeInvalidInput},
			{"lower-case lockedCurrencySide", body(lookup, "USD", "EUR", "sending", 100), 400, vaspd.CodeInvalidInput},
			{"zero amount", body(lookup, "USD", "EUR", "SENDING", 0), 400, vaspd.CodeInvalidAmount},
			{"negative amount", body(lookup, "USD", "EUR", "SENDING", -100), 400, vaspd.CodeInvalidAmount},
			{"overflowing amount", body(lookup, "USD", "EUR", "SENDING", "99999999999999999999"), 400, vaspd.CodeInvalidAmount},
			{"fractional amount", body(lookup, "USD", "EUR", "SENDING", 1.5), 400, vaspd.CodeInvalidInput},
			{"string amount", body(lookup, "USD", "EUR", "SENDING", `"100"`), 400, vaspd.CodeInvalidInput},
			{"above the receiver's max", body(lookup, "USD", "EUR", "RECEIVING", 200_000_000), 400, vaspd.CodeAmountOutOfRange},
			{"above the receiver's max msats", body(lookup, "USD", "EUR", "SENDING", 9_000_000_000_000), 400, vaspd.CodeAmountOutOfRange},
			{"beyond 9e15", body(lookup, "USD", "EUR", "SENDING", int64(1)<<62), 400, vaspd.CodeInvalidAmount},
			{"unknown sending currency", body(lookup, "XXX", "EUR", "SENDING", 100), 400, vaspd.CodeInvalidInput},
			{"currency the receiver does not take", body(lookup, "USD", "GBP", "SENDING", 100), 400, vaspd.CodeInvalidInput},
			{"unknown field", `{"lookupId":"` + lookup + `","bogus":1}`, 400, vaspd.CodeInvalidInput},
			{"malformed JSON", `{"lookupId":`, 400, vaspd.CodeInvalidRequestFormat},
			{"array", `[]`, 400, vaspd.CodeInvalidInput},
			{"two values", body(lookup, "USD", "EUR", "SENDING", 100) + `{}`, 400, vaspd.CodeInvalidRequestFormat},
			{"amount named twice, in another case", strings.TrimSuffix(body(lookup, "USD", "EUR", "SENDING", 100), "}") + `,"LockedCurrencyAmount":1}`,
				400, vaspd.CodeInvalidRequestFormat},
			{"oversized", `{"description":"` + strings.Repeat("x", 2<<20) + `"}`, 413, vaspd.CodeRequestTooLarge},
			{"description over 255 characters", strings.TrimSuffix(body(lookup, "USD", "EUR", "SENDING", 100), "}") +
				`,"description":"` + strings.Repeat("é", vasp.MaxDescriptionLen+1) + `"}`, 400, vaspd.CodeInvalidInput},
			{"description with NUL", strings.TrimSuffix(body(lookup, "USD", "EUR", "SENDING", 100), "}") +
				`,"description":"a\u0000b"}`, 400, vaspd.CodeInvalidInput},
			{"description with ESC", strings.TrimSuffix(body(lookup, "USD", "EUR", "SENDING", 100), "}") +
				`,"description":"\u001b[31mred"}`, 400, vaspd.CodeInvalidInput},
			{"description with a bidi override", strings.TrimSuffix(body(lookup, "USD", "EUR", "SENDING", 100), "}") +
				`,"description":"rent \u202eexe.png"}`, 400, vaspd.CodeInvalidInput},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, _ := f.call(t, "POST", "/quotes", &f.admin, tc.body)
				wantAPIError(t, status, raw, tc.status, tc.code)
			})
		}
		status, raw, _ := f.call(t, "GET", "/quotes/"+vaspd.NewID(vaspd.IDQuote), &f.admin, "")
		wantAPIError(t, status, raw, 404, "QUOTE_NOT_FOUND")
		status, raw, _ = f.call(t, "POST", "/quotes/"+vaspd.NewID(vaspd.IDQuote)+"/refresh", &f.admin, "")
		wantAPIError(t, status, raw, 404, "QUOTE_NOT_FOUND")
	})
}

// A description of up to 255 characters reaches the receiver whole as the
// payreq's comment, however many bytes its characters take.
func TestPaymentsQuoteDescription(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		desc := "rent\tDecember\n" + strings.Repeat("é", vasp.MaxDescriptionLen-14) // 500 bytes and more; a tab and a line break are text
		body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":100,"description":%q}`,
			f.lookupBob(t), desc)
		if status, raw, _ := f.call(t, "POST", "/quotes", &f.admin, body); status != 201 {
			t.Fatalf("quote: %d %s", status, raw)
		}
		ts, err := f.svc.ListTransactions(t.Context(), vasp.TransactionFilter{Direction: vasp.Incoming}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("incoming payments: %d, %v", len(ts), err)
		}
		if ts[0].Details.Comment != desc {
			t.Fatalf("the receiver got the comment %q (%d bytes), want the whole description", ts[0].Details.Comment, len(ts[0].Details.Comment))
		}
	})
}

func TestPaymentsExecute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, tc := range []struct{ name, id string }{
			{"unknown quote", vaspd.NewID(vaspd.IDQuote)},
			{"malformed id", "nope"},
			{"id of another type", f.alice.UserID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, _ := f.call(t, "POST", "/quotes/"+url.PathEscape(tc.id)+"/execute", &f.admin, "")
				wantAPIError(t, status, raw, 404, "QUOTE_NOT_FOUND")
			})
		}
		status, raw, _ := f.call(t, "POST", "/quotes/"+vaspd.NewID(vaspd.IDQuote)+"/execute", &f.admin, "", "Idempotency-Key", strings.Repeat("k", 256))
		wantAPIError(t, status, raw, 400, vaspd.CodeInvalidInput)

		t.Run("concurrent executes pay once", func(t *testing.T) {
			q := f.quote(t, 1000)
			const n = 8
			var wg sync.WaitGroup
			type result struct {
				status int
				raw    []byte
				m      map[string]any
			}
			results := make([]result, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := ""
					if i%2 == 0 {
						key = "retry-" + q // the platform's retries carry one key
					}
					s, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "", "Idempotency-Key", key)
					results[i] = result{s, raw, m}
				}()
			}
			wg.Wait()
			ids := map[string]bool{}
			for _, r := range results {
				if r.status != 200 {
					t.Fatalf("execute: %d %s", r.status, r.raw)
				}
				ids[r.m["id"].(string)] = true
			}
			if len(ids) != 1 {
				t.Fatalf("%d transactions for one quote: %v", len(ids), ids)
			}
			var payments int
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE direction = 'OUTGOING' AND quote_id = $1`, q).Scan(&payments); err != nil || payments != 1 {
				t.Fatalf("%d outgoing payments (%v)", payments, err)
			}
			// A later retry still answers the same transaction.
			_, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
			if !ids[fmt.Sprint(m["id"])] {
				t.Fatalf("retry answered %s", raw)
			}
		})

		t.Run("idempotency key reused on another quote", func(t *testing.T) {
			q1, q2 := f.quote(t, 100), f.quote(t, 100)
			status, raw, _ := f.call(t, "POST", "/quotes/"+q1+"/execute", &f.admin, "", "Idempotency-Key", "key-1")
			if status != 200 {
				t.Fatalf("execute: %d %s", status, raw)
			}
			status, raw, _ = f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, "", "Idempotency-Key", "key-1")
			wantAPIError(t, status, raw, 422, vaspd.CodeIdempotencyKeyReused)
			// q2 is untouched: it can still be executed with its own key.
			status, raw, _ = f.call(t, "POST", "/quotes/"+q2+"/execute", &f.admin, "", "Idempotency-Key", "key-2")
			if status != 200 {
				t.Fatalf("execute: %d %s", status, raw)
			}
			// An executed quote cannot be refreshed.
			status, raw, _ = f.call(t, "POST", "/quotes/"+q1+"/refresh", &f.admin, "")
			wantAPIError(t, status, raw, 409, "QUOTE_ALREADY_EXECUTED")
		})

		t.Run("insufficient balance", func(t *testing.T) {
			q := f.quote(t, 5_000_000) // € 50,000 > $1,000
			status, raw, _ := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
			wantAPIError(t, status, raw, 400, "INSUFFICIENT_BALANCE")
			// The refusal rolled the claim back with the reservation: the
			// quote is still pending, and refused again the same way.
			status, raw, _ = f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
			wantAPIError(t, status, raw, 400, "INSUFFICIENT_BALANCE")
		})
	})
}

// TestExecuteOutlivesItsClient: a platform that gives up on an execute
// once the payment is under way (its request cancelled) does not stop the
// booking. The money has left; the payment is booked as soon as it
// settles, not left PROCESSING for the background resolver, which only
// looks at payments older than the pay timeout.
func TestExecuteOutlivesItsClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 100)
		f.node.SetFaults(embedded.Faults{SettleDelay: 2 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r, err := http.NewRequestWithContext(ctx, "POST", f.base+"/quotes/"+q+"/execute", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.SetBasicAuth(f.admin.ClientID, f.admin.ClientSecret)
		answered := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(r)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("execute answered %d before its payment settled", resp.StatusCode)
			} else {
				err = nil
			}
			answered <- err
		}()
		// Given up once the payment is under way (not before: an execute
		// cancelled before it claims its quote rightly does nothing, which
		// a fixed delay could not tell apart on a loaded machine).
		for deadline := time.Now().Add(30 * time.Second); ; {
			_, raw, m := f.call(t, "GET", "/quotes/"+q, &f.admin, "")
			if m["status"] == "PROCESSING" {
				break
			}
			if m["status"] != "PENDING" || time.Now().After(deadline) {
				t.Fatalf("quote never PROCESSING while its payment settles: %s", raw)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
		// The resolver looks only at payments older than the pay timeout
		// (30 s, the fixture's) and a margin: completed well before that,
		// the payment was booked by its execute. The wait leaves a loaded
		// machine running -race room for the settlement and the booking.
		const wait = 10 * time.Second
		deadline := time.Now().Add(wait)
		for {
			_, raw, m := f.call(t, "GET", "/quotes/"+q, &f.admin, "")
			if m["status"] == "COMPLETED" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("quote not completed %s after its execute was abandoned: %s", wait, raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestPaymentsTransactions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		start := time.Now().Add(-time.Second)
		// Five incoming payments waiting (PENDING) and one outgoing payment.
		for range 5 {
			pr := f.payReq(t, 100, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, time.Now())
			if status, raw, _ := f.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, pr)); status != 200 {
				t.Fatalf("payreq: %d %s", status, raw)
			}
		}
		q := f.quote(t, 100)
		status, raw, out := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 || out["status"] != "COMPLETED" {
			t.Fatalf("execute: %d %s", status, raw)
		}
		outID := out["id"].(string)
		// The success is stored with its proof of payment, in the same
		// UPDATE as the status.
		stored, err := f.svc.GetTransaction(t.Context(), outID)
		if err != nil {
			t.Fatal(err)
		}
		pre, err := hex.DecodeString(stored.Details.Preimage)
		if sum := sha256.Sum256(pre); err != nil || hex.EncodeToString(sum[:]) != stored.PaymentHash || stored.Status != vasp.StatusCompleted {
			t.Fatalf("stored after execute: %s, preimage %q for hash %s", stored.Status, stored.Details.Preimage, stored.PaymentHash)
		}

		list := func(query string) []string {
			t.Helper()
			var ids []string
			cursor := ""
			for page := 0; ; page++ {
				path := "/transactions?limit=2" + query
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				status, raw, m := f.call(t, "GET", path, &f.viewer, "")
				if status != 200 {
					t.Fatalf("list %s: %d %s", path, status, raw)
				}
				data := m["data"].([]any)
				if len(data) > 2 {
					t.Fatalf("page of %d with limit 2", len(data))
				}
				for _, d := range data {
					ids = append(ids, d.(map[string]any)["id"].(string))
				}
				if m["hasMore"] != true {
					return ids
				}
				cursor = m["nextCursor"].(string)
				if page > 20 {
					t.Fatal("pagination does not end")
				}
			}
		}
		// The receiving side of that payment is credited in the background.
		for deadline := time.Now().Add(15 * time.Second); len(list("&type=INCOMING&status=COMPLETED")) != 1; {
			if time.Now().After(deadline) {
				t.Fatal("the incoming side of the payment was not credited")
			}
			time.Sleep(20 * time.Millisecond)
		}
		all := list("")
		if len(all) < 7 { // 5 + the outgoing payment + its incoming side
			t.Fatalf("listed %d transactions: %v", len(all), all)
		}
		seen := map[string]bool{}
		for i, id := range all {
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
			if i > 0 && id > all[i-1] {
				t.Fatalf("not newest first: %v", all)
			}
		}
		if got := list("&type=OUTGOING"); len(got) != 1 || got[0] != outID {
			t.Fatalf("OUTGOING: %v", got)
		}
		if got := list("&type=INCOMING&status=PENDING&userId=" + f.bob.UserID); len(got) != 5 {
			t.Fatalf("INCOMING PENDING for bob: %v", got)
		}
		if got := list("&userId=" + f.alice.UserID); len(got) != 1 {
			t.Fatalf("alice: %v", got)
		}
		if got := list("&startDate=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); len(got) != 0 {
			t.Fatalf("future startDate: %v", got)
		}
		if got := list("&startDate=" + url.QueryEscape(start.UTC().Format(time.RFC3339)) + "&endDate=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); len(got) != len(all) {
			t.Fatalf("date range: %d of %d", len(got), len(all))
		}
		for _, tc := range []struct{ name, query, code string }{
			{"limit 0", "?limit=0", vaspd.CodeInvalidInput},
			{"limit too big", "?limit=1000", vaspd.CodeInvalidInput},
			{"limit not a number", "?limit=x", vaspd.CodeInvalidInput},
			{"bad cursor", "?cursor=%25%25", vaspd.CodeInvalidInput},
			{"bad startDate", "?startDate=yesterday", vaspd.CodeInvalidInput},
			{"bad endDate", "?endDate=2026-13-01", vaspd.CodeInvalidInput},
			{"unknown type", "?type=SIDEWAYS", vaspd.CodeInvalidInput},
			{"unknown status", "?status=MAYBE", vaspd.CodeInvalidInput},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, _ := f.call(t, "GET", "/transactions"+tc.query, &f.viewer, "")
				wantAPIError(t, status, raw, 400, tc.code)
			})
		}
		status, raw, m := f.call(t, "GET", "/transactions/"+outID, &f.viewer, "")
		if status != 200 || m["id"] != outID || m["quoteId"] != q {
			t.Fatalf("get: %d %s", status, raw)
		}
		status, raw, _ = f.call(t, "GET", "/transactions/"+vaspd.NewID(vaspd.IDTransaction), &f.viewer, "")
		wantAPIError(t, status, raw, 404, "TRANSACTION_NOT_FOUND")
		status, raw, _ = f.call(t, "GET", "/transactions/x", &f.viewer, "")
		wantAPIError(t, status, raw, 404, "TRANSACTION_NOT_FOUND")
	})
}

func TestPaymentsDecideNotPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		// An approved incoming payment (no webhook endpoint: approved at once)
		// and an outgoing one: neither waits for a decision.
		pr := f.payReq(t, 100, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, time.Now())
		if status, raw, _ := f.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, pr)); status != 200 {
			t.Fatalf("payreq: %d %s", status, raw)
		}
		_, _, m := f.call(t, "GET", "/transactions?type=INCOMING", &f.viewer, "")
		incoming := m["data"].([]any)[0].(map[string]any)["id"].(string)
		q := f.quote(t, 100)
		_, _, out := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		outgoing := out["id"].(string)
		for _, action := range []string{"approve", "reject"} {
			for _, tc := range []struct {
				name, id, body string
				status         int
				code           string
			}{
				{"incoming already approved", incoming, "", 409, vaspd.CodeTransactionNotPending},
				{"outgoing", outgoing, `{"reason":"no"}`, 409, vaspd.CodeTransactionNotPending},
				{"unknown", vaspd.NewID(vaspd.IDTransaction), "", 404, "TRANSACTION_NOT_FOUND"},
				{"malformed id", "123", "", 404, "TRANSACTION_NOT_FOUND"},
				{"malformed body", incoming, `{"receiverUserInfo":`, 400, vaspd.CodeInvalidRequestFormat},
				{"wrong-typed body", incoming, `{"receiverUserInfo":"x"}`, 400, vaspd.CodeInvalidInput},
			} {
				t.Run(action+" "+tc.name, func(t *testing.T) {
					status, raw, _ := f.call(t, "POST", "/transactions/"+tc.id+"/"+action, &f.admin, tc.body)
					wantAPIError(t, status, raw, tc.status, tc.code)
				})
			}
		}
		// The viewer cannot decide.
		status, raw, _ := f.call(t, "POST", "/transactions/"+incoming+"/approve", &f.viewer, "")
		wantAPIError(t, status, raw, 403, "FORBIDDEN")
	})
}

// TestExecuteRefusesMalformedIdempotencyKey: a key that is not printable
// ASCII is a 400 that leaves the quote untouched (it was a 500 on
// PostgreSQL, which cannot store invalid UTF-8).
func TestExecuteRefusesMalformedIdempotencyKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		q := f.quote(t, 100)
		for _, key := range []string{"k\xff", "caf\xc3\xa9", "a b", strings.Repeat("k", 256)} {
			status, raw, _ := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "", "Idempotency-Key", key)
			wantAPIError(t, status, raw, 400, vaspd.CodeInvalidInput)
		}
		status, raw, out := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "", "Idempotency-Key", "good-key")
		if status != 200 || out["id"] == nil {
			t.Fatalf("execute after refused keys: %d %s", status, raw)
		}
	})
}
