package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// umaRequest is an UMA invoice in which carol, at domain, asks f's alice
// for 12.50 USD, edited by mod and signed with key: the invoice, its
// uma:// link, and the body of POST /api/uma/request_pay carrying it.
func umaRequest(t *testing.T, f *payFixture, domain string, key *uma.PrivateKey, mod func(*uma.Invoice)) (inv *uma.Invoice, link, body string) {
	t.Helper()
	inv = &uma.Invoice{
		ReceiverUMA: "$carol@" + domain, InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69f9", Amount: 1250,
		ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
		Expiration:        time.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
		UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + f.domain,
		Callback: "http://" + domain + "/api/uma/payreq/carol",
	}
	if mod != nil {
		mod(inv)
	}
	if err := inv.Sign(key); err != nil {
		t.Fatal(err)
	}
	link, err := inv.URI()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(uma.UmaRequest{Invoice: link})
	return inv, link, string(b)
}

// TestReceiveUmaRequest: another VASP's signed UMA invoice addressed to
// one of our users is kept once and listed for the platform; forged,
// expired, misaddressed and malformed ones are refused in UMA's words.
func TestReceiveUmaRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		domain, k := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		invoice := func(mod func(*uma.Invoice), key *uma.PrivateKey) string {
			_, _, body := umaRequest(t, f, domain, key, mod)
			return body
		}
		good := invoice(nil, k.Signing)
		for i := 0; i < 2; i++ { // the repeat is answered the same, and kept once
			status, raw, _ := f.call(t, "POST", "/api/uma/request_pay", nil, good)
			if status != 200 || string(raw) != "{}" {
				t.Fatalf("UMA request %d: %d %s", i, status, raw)
			}
		}
		status, _, m := f.call(t, "GET", "/uma-requests?userId="+f.alice.UserID, &f.viewer, "")
		data, _ := m["data"].([]any)
		if status != 200 || len(data) != 1 {
			t.Fatalf("list: %d %v", status, m)
		}
		r := data[0].(map[string]any)
		if r["receiverUmaAddress"] != "$carol@"+domain || r["amount"] != float64(1250) || r["currency"] != "USD" ||
			!strings.HasPrefix(r["invoice"].(string), "uma1") {
			t.Fatalf("kept %v", r)
		}
		if status, _, got := f.call(t, "GET", "/uma-requests/"+r["id"].(string), &f.viewer, ""); status != 200 || got["id"] != r["id"] {
			t.Fatalf("get: %d %v", status, got)
		}
		if status, _, got := f.call(t, "GET", "/uma-requests/nope", &f.viewer, ""); status != 404 || got["code"] != "UMA_REQUEST_NOT_FOUND" {
			t.Fatalf("get unknown: %d %v", status, got)
		}

		other := newKeys(t, domain)
		for _, c := range []struct {
			name   string
			body   string
			status int
			code   uma.ErrorCode
		}{
			{"forged", invoice(func(i *uma.Invoice) { i.InvoiceUUID = "d7c07fec-cf00-431c-916f-6c13fc4b69f9" }, other.Signing), 401, uma.CodeInvalidSignature},
			{"expired", invoice(func(i *uma.Invoice) { i.Expiration = time.Now().Add(-time.Minute).Unix() }, k.Signing), 400, uma.CodeInvoiceExpired},
			{"no sender", invoice(func(i *uma.Invoice) { i.SenderUMA = "" }, k.Signing), 400, uma.CodeInvalidInvoice},
			{"unknown sender", invoice(func(i *uma.Invoice) { i.SenderUMA = "$nobody@" + f.domain }, k.Signing), 404, uma.CodeUserNotFound},
			{"sender elsewhere", invoice(func(i *uma.Invoice) { i.SenderUMA = "$alice@elsewhere.example" }, k.Signing), 404, uma.CodeUserNotFound},
			{"receiver is us", invoice(func(i *uma.Invoice) { i.ReceiverUMA = "$bob@" + f.domain }, k.Signing), 400, uma.CodeInvalidInvoice},
			{"not json", `invoice=uma1`, 400, uma.CodeInvalidRequestFormat},
			{"no invoice", `{}`, 400, uma.CodeInvalidRequestFormat},
			{"not an invoice", `{"invoice":"lnbc1"}`, 400, uma.CodeInvalidInvoice},
			{"huge", `{"invoice":"` + strings.Repeat("q", 20000) + `"}`, 413, uma.CodeInvalidRequestFormat},
		} {
			status, raw, _ := f.call(t, "POST", "/api/uma/request_pay", nil, c.body)
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			if status != c.status || m["code"] != string(c.code) {
				t.Errorf("%s: %d %s, want %d %s", c.name, status, raw, c.status, c.code)
			}
		}
		var announced int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM webhook_events WHERE type = 'UMA_REQUEST'`).Scan(&announced); err != nil || announced != 1 {
			t.Fatalf("UMA_REQUEST webhooks: %d %v, want 1", announced, err)
		}
		status, _, m = f.call(t, "GET", "/uma-requests", &f.viewer, "")
		if data, _ := m["data"].([]any); status != 200 || len(data) != 1 {
			t.Fatalf("refused requests were kept: %v", m)
		}
	})
}
