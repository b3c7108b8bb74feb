package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// failedQuote is a quote for alice paying bob amount euro cents whose
// payment failed (the node refused to route it).
func (f *payFixture) failedQuote(t *testing.T, amount int64) string {
	t.Helper()
	q := f.quote(t, amount)
	f.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
	defer f.node.SetFaults(embedded.Faults{})
	status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
	if status != 200 || m["status"] != "FAILED" {
		t.Fatalf("execute under a routing fault: %d %s", status, raw)
	}
	return q
}

// retry retries quote q with a new lookup of bob and returns the answer.
func (f *payFixture) retry(t *testing.T, q string) (int, []byte, map[string]any) {
	t.Helper()
	return f.call(t, "POST", "/quotes/"+q+"/retry", &f.admin, fmt.Sprintf(`{"lookupId":%q}`, f.lookupBob(t)))
}

func TestPaymentsRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		failed := f.failedQuote(t, 2_00)

		t.Run("refused requests", func(t *testing.T) {
			lookup := f.lookupBob(t)
			path := "/quotes/" + failed + "/retry"
			for _, tc := range []struct {
				name, path, body string
				status           int
				code             string
			}{
				{"no body", path, "", 415, vaspd.CodeUnsupportedMediaType},
				{"malformed JSON", path, `{"lookupId":`, 400, vaspd.CodeInvalidRequestFormat},
				{"array", path, `[]`, 400, vaspd.CodeInvalidInput},
				{"unknown field", path, `{"lookupId":"` + lookup + `","amount":1}`, 400, vaspd.CodeInvalidInput},
				{"no lookupId", path, `{}`, 400, vaspd.CodeInvalidInput},
				{"garbage lookupId", path, `{"lookupId":"' OR 1=1"}`, 400, vaspd.CodeInvalidInput},
				{"lookupId of another type", path, `{"lookupId":"` + failed + `"}`, 400, vaspd.CodeInvalidInput},
				{"senderUserInfo not an object", path, `{"lookupId":"` + lookup + `","senderUserInfo":"x"}`, 400, vaspd.CodeInvalidInput},
				{"bad senderUserInfo value", path, `{"lookupId":"` + lookup + `","senderUserInfo":{"EMAIL":null}}`, 400, vaspd.CodeInvalidInput},
				{"unknown lookup", path, `{"lookupId":"` + vaspd.NewID(vaspd.IDLookup) + `"}`, 404, vaspd.CodeLookupRequestNotFound},
				{"unknown quote", "/quotes/" + vaspd.NewID(vaspd.IDQuote) + "/retry", `{"lookupId":"` + lookup + `"}`, 404, vaspd.CodeQuoteNotFound},
				{"malformed quote id", "/quotes/" + url.PathEscape("nope") + "/retry", `{"lookupId":"` + lookup + `"}`, 404, vaspd.CodeQuoteNotFound},
			} {
				t.Run(tc.name, func(t *testing.T) {
					status, raw, _ := f.call(t, "POST", tc.path, &f.admin, tc.body)
					wantAPIError(t, status, raw, tc.status, tc.code)
				})
			}
			body := `{"lookupId":"` + lookup + `"}`
			status, raw, _ := f.call(t, "POST", path, nil, body)
			wantAPIError(t, status, raw, 401, vaspd.CodeUnauthorized)
			status, raw, _ = f.call(t, "POST", path, &f.viewer, body)
			wantAPIError(t, status, raw, 403, vaspd.CodeForbidden)
			// A lookup made for another sender (bob looking alice up).
			status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape("$alice@"+f.domain)+"?userId="+f.bob.UserID, &f.admin, "")
			if status != 200 {
				t.Fatalf("lookup for bob: %d %s", status, raw)
			}
			status, raw, _ = f.call(t, "POST", path, &f.admin, `{"lookupId":"`+m["lookupId"].(string)+`"}`)
			wantAPIError(t, status, raw, 400, vaspd.CodeInvalidInput)
			if !strings.Contains(string(raw), "another sending user") {
				t.Fatalf("message does not say why: %s", raw)
			}
		})

		t.Run("retry of a retry, refresh of a retry", func(t *testing.T) {
			q := f.failedQuote(t, 1_50)
			status, raw, r1 := f.retry(t, q)
			if status != 201 || r1["originalQuoteId"] != q || r1["totalReceivingAmount"] != float64(1_50) {
				t.Fatalf("retry: %d %s", status, raw)
			}
			// The retry fails too; retrying it names the first quote.
			f.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
			status, raw, m := f.call(t, "POST", "/quotes/"+r1["quoteId"].(string)+"/execute", &f.admin, "")
			f.node.SetFaults(embedded.Faults{})
			if status != 200 || m["status"] != "FAILED" {
				t.Fatalf("execute of the retry: %d %s", status, raw)
			}
			status, raw, r2 := f.retry(t, r1["quoteId"].(string))
			if status != 201 || r2["originalQuoteId"] != q {
				t.Fatalf("retry of a retry: %d %s", status, raw)
			}
			status, raw, r3 := f.call(t, "POST", "/quotes/"+r2["quoteId"].(string)+"/refresh", &f.admin, "")
			if status != 201 || r3["originalQuoteId"] != q {
				t.Fatalf("refresh of a retry: %d %s", status, raw)
			}
			// The refresh replaced the retry it refreshed.
			status, raw, _ = f.call(t, "POST", "/quotes/"+r2["quoteId"].(string)+"/execute", &f.admin, "")
			wantAPIError(t, status, raw, 409, vaspd.CodeQuoteExpired)
			status, raw, r4 := f.retry(t, r1["quoteId"].(string))
			if status != 201 || r4["originalQuoteId"] != q {
				t.Fatalf("another retry: %d %s", status, raw)
			}
			// Of two open retries, one a refresh, executed at once, one pays.
			var wg sync.WaitGroup
			results := make([]map[string]any, 2)
			codes := make([]int, 2)
			for i, id := range []string{r4["quoteId"].(string), r3["quoteId"].(string)} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i], _, results[i] = f.call(t, "POST", "/quotes/"+id+"/execute", &f.admin, "")
				}()
			}
			wg.Wait()
			paid := 0
			for i := range codes {
				switch {
				case codes[i] == 200 && results[i]["status"] == "COMPLETED":
					paid++
				case codes[i] == 409 && results[i]["code"] == vaspd.CodeQuoteAlreadyExecuted:
				default:
					t.Fatalf("concurrent executes of two retries: %d %v", codes[i], results[i])
				}
			}
			if paid != 1 {
				t.Fatalf("%d of two retries of one payment paid, want 1", paid)
			}
			var completed int
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes WHERE (id = $1 OR original_quote_id = $1) AND status = 'COMPLETED'`, q).Scan(&completed); err != nil || completed != 1 {
				t.Fatalf("%d quotes of the payment completed (%v), want 1", completed, err)
			}
			status, raw, _ = f.retry(t, r1["quoteId"].(string))
			wantAPIError(t, status, raw, 409, vaspd.CodeQuoteAlreadyExecuted)
		})

		t.Run("an ordinary quote has no originalQuoteId", func(t *testing.T) {
			status, raw, m := f.call(t, "GET", "/quotes/"+failed, &f.admin, "")
			if _, ok := m["originalQuoteId"]; status != 200 || ok || m["status"] != "FAILED" {
				t.Fatalf("GET: %d %s", status, raw)
			}
		})
	})
}
