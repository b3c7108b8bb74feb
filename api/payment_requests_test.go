package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// senderVASP is the VASP of a payer a payment request names: it serves
// its uma-configuration (config, by the test's word) and keeps what its
// uma_request_endpoint receives, answered by answer.
type senderVASP struct {
	domain string
	mu     sync.Mutex
	config func(endpoint string) (int, string)
	answer func(w http.ResponseWriter)
	got    []string // invoices received
}

func newSenderVASP(t *testing.T) *senderVASP {
	t.Helper()
	v := &senderVASP{
		config: func(endpoint string) (int, string) {
			return 200, `{"name":"v","uma_major_versions":[1,0],"uma_request_endpoint":"` + endpoint + `"}`
		},
		answer: func(w http.ResponseWriter) { _, _ = w.Write([]byte("{}")) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		config, answer := v.config, v.answer
		v.mu.Unlock()
		switch {
		case r.Method == "GET" && r.URL.Path == "/.well-known/uma-configuration":
			status, body := config("http://" + v.domain + "/uma/request")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		case r.Method == "POST" && r.URL.Path == "/uma/request":
			var req uma.UmaRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			v.mu.Lock()
			v.got = append(v.got, req.Invoice)
			v.mu.Unlock()
			answer(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	v.domain = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
	return v
}

func (v *senderVASP) set(config func(string) (int, string), answer func(http.ResponseWriter)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if config != nil {
		v.config = config
	}
	if answer != nil {
		v.answer = answer
	}
}

func (v *senderVASP) received() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.got...)
}

// TestPaymentRequestsAPI: the platform has vaspd issue an UMA invoice for
// bob naming a payer at another VASP, which receives it at its
// uma_request_endpoint; the request is listed, read and cancelled, with
// the platform API's errors for what is wrong.
func TestPaymentRequestsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		sender := newSenderVASP(t)
		body := `{"userId":"` + f.bob.UserID + `","amount":1000,"currency":"eur","senderUmaAddress":"$carol@` + sender.domain + `","maxNumPayments":1}`
		status, raw, m := f.call(t, "POST", "/payment-requests", &f.admin, body, "Idempotency-Key", "pr-1")
		if status != 201 {
			t.Fatalf("create: %d %s", status, raw)
		}
		var p vasp.PaymentRequest
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.Status != "PENDING" || p.Delivery.Status != "DELIVERED" || p.Currency != "EUR" || p.Amount != 1000 ||
			p.SenderUMA != "$carol@"+sender.domain || p.Link != "uma://"+p.Invoice || m["invoiceUUID"] != p.InvoiceUUID {
			t.Fatalf("created %s", raw)
		}
		if got := sender.received(); len(got) != 1 || got[0] != p.Invoice {
			t.Fatalf("the sender's VASP received %v", got)
		}
		inv, err := uma.DecodeInvoice(p.Invoice)
		if err != nil || inv.SenderUMA != p.SenderUMA || inv.Verify(f.keys.Signing.PublicKey()) != nil {
			t.Fatalf("invoice %+v, %v", inv, err)
		}
		// A retry answers the same request, not delivered again.
		status, raw, m = f.call(t, "POST", "/payment-requests", &f.admin, body, "Idempotency-Key", "pr-1")
		if status != 201 || m["id"] != p.ID || len(sender.received()) != 1 {
			t.Fatalf("retry: %d %s", status, raw)
		}
		status, raw, _ = f.call(t, "POST", "/payment-requests", &f.viewer, body)
		wantAPIError(t, status, raw, 403, "FORBIDDEN")
		for _, c := range []struct{ name, body, code string }{
			{"no amount", `{"userId":"` + f.bob.UserID + `","currency":"EUR"}`, "INVALID_AMOUNT"},
			{"no currency", `{"userId":"` + f.bob.UserID + `","amount":100}`, "INVALID_INPUT"},
			{"a currency bob does not receive", `{"userId":"` + f.bob.UserID + `","amount":100,"currency":"USD"}`, "INVALID_CURRENCY"},
			{"an unknown field", `{"userId":"` + f.bob.UserID + `","amount":100,"currency":"EUR","bogus":1}`, "INVALID_INPUT"},
			{"an expiry past a month", `{"userId":"` + f.bob.UserID + `","amount":100,"currency":"EUR","expiresAt":"2999-01-01T00:00:00Z"}`, "INVALID_INPUT"},
			// The zero time is a time given, long past: not "none given" (24 h).
			{"an expiry in year 1", `{"userId":"` + f.bob.UserID + `","amount":100,"currency":"EUR","expiresAt":"0001-01-01T00:00:00Z"}`, "INVALID_INPUT"},
		} {
			status, raw, _ := f.call(t, "POST", "/payment-requests", &f.admin, c.body)
			wantAPIError(t, status, raw, 400, c.code)
		}
		status, raw, m = f.call(t, "GET", "/payment-requests?userId="+f.bob.UserID+"&status=PENDING", &f.viewer, "")
		if data, _ := m["data"].([]any); status != 200 || len(data) != 1 {
			t.Fatalf("list: %d %s", status, raw)
		}
		status, raw, _ = f.call(t, "GET", "/payment-requests?status=NOPE", &f.viewer, "")
		wantAPIError(t, status, raw, 400, "INVALID_INPUT")
		status, raw, _ = f.call(t, "GET", "/payment-requests/PaymentRequest:nope", &f.viewer, "")
		wantAPIError(t, status, raw, 404, "PAYMENT_REQUEST_NOT_FOUND")
		if status, raw, m = f.call(t, "GET", "/payment-requests/"+p.ID, &f.viewer, ""); status != 200 || m["invoice"] != p.Invoice {
			t.Fatalf("get: %d %s", status, raw)
		}
		status, raw, m = f.call(t, "POST", "/payment-requests/"+p.ID+"/cancel", &f.admin, "")
		if status != 200 || m["status"] != "CANCELLED" || m["cancelledAt"] == nil {
			t.Fatalf("cancel: %d %s", status, raw)
		}
		status, raw, _ = f.call(t, "POST", "/payment-requests/"+p.ID+"/deliver", &f.admin, "")
		wantAPIError(t, status, raw, 409, "PAYMENT_REQUEST_NOT_PENDING")
		// The sender's VASP pays it anyway: refused in UMA's words.
		domain, k := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		pr := f.payReq(t, 1000, "EUR", "EUR", "$carol@"+domain, k.Signing, time.Now())
		pr.InvoiceUUID = p.InvoiceUUID
		status, raw, _ = f.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, pr))
		wantUMAError(t, status, raw, 400, uma.CodeInvalidInvoice)
	})
}

// A payreq naming an invoice of ours is checked in its GET form too: an
// amount other than the invoice's is refused, and so is another VASP's
// payreq once the one payment is invoiced (the first VASP's re-quote is
// answered).
func TestPaymentRequestPayreqGET(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		status, raw, m := f.call(t, "POST", "/payment-requests", &f.admin, `{"userId":"`+f.bob.UserID+`","amount":1000,"currency":"EUR"}`)
		if status != 201 || m["delivery"].(map[string]any)["status"] != "NONE" {
			t.Fatalf("create: %d %s", status, raw)
		}
		domain, k := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		other, otherKeys := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		for _, c := range []struct {
			amount int64
			other  bool
			status int
			code   uma.ErrorCode
		}{{999, false, 400, uma.CodeInvalidInvoice}, {1000, false, 200, ""}, {1000, false, 200, ""}, {1000, true, 400, uma.CodeInvalidInvoice}} {
			payer, key := "$carol@"+domain, k.Signing
			if c.other {
				payer, key = "$dave@"+other, otherKeys.Signing
			}
			pr := f.payReq(t, c.amount, "EUR", "EUR", payer, key, time.Now())
			pr.InvoiceUUID = m["invoiceUUID"].(string)
			status, raw, _ := f.call(t, "GET", "/api/uma/payreq/bob?"+pr.Query(false).Encode(), nil, "")
			if c.code == "" {
				if status != 200 {
					t.Fatalf("payreq: %d %s", status, raw)
				}
				continue
			}
			wantUMAError(t, status, raw, c.status, c.code)
		}
	})
}

// A delivery the sender's VASP does not take is answered and recorded as
// FAILED with why, the request kept and payable; the platform can deliver
// it again once the sender's VASP takes it.
func TestPaymentRequestDeliveryFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { o.CounterpartyTimeout = 500 * time.Millisecond }, nil)
		sender := newSenderVASP(t)
		huge := strings.Repeat("x", 2<<20)
		for _, c := range []struct {
			name   string
			config func(string) (int, string)
			answer func(http.ResponseWriter)
			code   string
			says   string // in the delivery's message, when set
		}{
			{"no configuration document", func(string) (int, string) { return 404, "" }, nil, "UMA_CONFIGURATION_FETCH_ERROR", ""},
			{"no uma_request_endpoint", func(string) (int, string) { return 200, `{"uma_major_versions":[1]}` }, nil, "UMA_CONFIGURATION_FETCH_ERROR", ""},
			{"a configuration that is no JSON", func(string) (int, string) { return 200, "<html>" }, nil, "UMA_CONFIGURATION_FETCH_ERROR", ""},
			{"an oversized configuration", func(string) (int, string) { return 200, huge }, nil, "UMA_CONFIGURATION_FETCH_ERROR", ""},
			{"an endpoint we do not call", func(string) (int, string) {
				return 200, `{"uma_major_versions":[1],"uma_request_endpoint":"ftp://x/y"}`
			}, nil, "UMA_CONFIGURATION_FETCH_ERROR", ""},
			{"the endpoint refusing without a code", nil, func(w http.ResponseWriter) { w.WriteHeader(500) }, "UMA_REQUEST_FAILED", ""},
			{"the endpoint refusing in UMA's words", nil, func(w http.ResponseWriter) {
				w.WriteHeader(404)
				_, _ = io.WriteString(w, `{"status":"ERROR","reason":"no such user","code":"USER_NOT_FOUND"}`)
			}, "USER_NOT_FOUND", ""},
			{"the endpoint too slow", nil, func(w http.ResponseWriter) { time.Sleep(time.Second) }, "UMA_REQUEST_FAILED", "no answer within"},
			{"the endpoint's answer too slow", nil, func(w http.ResponseWriter) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(200)
				_, _ = io.WriteString(w, "{")
				w.(http.Flusher).Flush()
				time.Sleep(time.Second)
			}, "UMA_REQUEST_FAILED", "did not send its whole answer within"},
		} {
			t.Run(c.name, func(t *testing.T) {
				sender.set(c.config, c.answer)
				status, raw, m := f.call(t, "POST", "/payment-requests", &f.admin,
					`{"userId":"`+f.bob.UserID+`","amount":1000,"currency":"EUR","senderUmaAddress":"$carol@`+sender.domain+`"}`)
				d, _ := m["delivery"].(map[string]any)
				if status != 201 || d["status"] != "FAILED" || d["code"] != c.code || d["message"] == "" || m["status"] != "PENDING" {
					t.Fatalf("create: %d %s", status, raw)
				}
				if msg, _ := d["message"].(string); !strings.Contains(msg, c.says) {
					t.Fatalf("delivery message %q, want it to say %q", msg, c.says)
				}
				_, _, got := f.call(t, "GET", "/payment-requests/"+m["id"].(string), &f.viewer, "")
				if g, _ := got["delivery"].(map[string]any); g["status"] != "FAILED" || g["code"] != c.code || g["attemptedAt"] == nil {
					t.Fatalf("kept %v", got)
				}
				sender.set(func(e string) (int, string) {
					return 200, `{"uma_major_versions":[1],"uma_request_endpoint":"` + e + `"}`
				}, func(w http.ResponseWriter) { _, _ = w.Write([]byte("{}")) })
				status, raw, got = f.call(t, "POST", "/payment-requests/"+m["id"].(string)+"/deliver", &f.admin, "")
				if g, _ := got["delivery"].(map[string]any); status != 200 || g["status"] != "DELIVERED" {
					t.Fatalf("deliver again: %d %s", status, raw)
				}
			})
		}
		// A sender's VASP that is not there at all.
		status, raw, m := f.call(t, "POST", "/payment-requests", &f.admin,
			`{"userId":"`+f.bob.UserID+`","amount":1000,"currency":"EUR","senderUmaAddress":"$carol@localhost:1"}`)
		if d, _ := m["delivery"].(map[string]any); status != 201 || d["status"] != "FAILED" || d["code"] != "UMA_CONFIGURATION_FETCH_ERROR" {
			t.Fatalf("create: %d %s", status, raw)
		}
	})
}

// A userId that is no id (here with a NUL, which PostgreSQL refuses in
// text) is a 400 with or without an Idempotency-Key: the key is not
// looked up under it.
func TestPaymentRequestBadUserIDWithKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, id := range []string{`\u0000`, `User:\u0000`, `nope`} {
			body := `{"userId":"` + id + `","amount":100,"currency":"EUR"}`
			status, raw, _ := f.call(t, "POST", "/payment-requests", &f.admin, body, "Idempotency-Key", "k-bad-user")
			wantAPIError(t, status, raw, 400, "INVALID_INPUT")
		}
	})
}
