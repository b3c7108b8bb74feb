package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// carolsVASP is another VASP whose $carol sends f's alice UMA requests
// and is paid through f's own node: it serves its keys, carol's lnurlp
// (USD, a cent being 1000 msats) and answers payreqs with invoices of f's
// node. It returns its domain and keys.
func carolsVASP(t *testing.T, f *payFixture) (string, *uma.Keys) {
	t.Helper()
	info, err := f.node.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var (
		domain string
		keys   *uma.Keys
		srv    *httptest.Server
	)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/.well-known/lnurlpubkey":
			_ = json.NewEncoder(w).Encode(keys.PubKeyResponse(time.Now().Add(time.Hour)))
		case strings.HasPrefix(r.URL.Path, "/.well-known/lnurlp/"): // $carol
			resp := &uma.LnurlpResponse{Callback: srv.URL + "/payreq/carol", MinSendable: 1000, MaxSendable: 1e12,
				Metadata:   uma.BuildMetadata("pay carol", "$carol@"+domain),
				Currencies: []uma.Currency{{Code: "USD", Decimals: 2, Multiplier: 1000, Convertible: uma.Convertible{Min: 1, Max: 1e9}}},
				PayerData:  uma.UMADataOptions(), UmaVersion: "1.0",
				Compliance: &uma.LnurlComplianceResponse{KycStatus: uma.KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: "$carol@" + domain}}
			_ = resp.Sign(keys.Signing, time.Now())
			b, _ := resp.MarshalJSON()
			_, _ = w.Write(b)
		case r.URL.Path == "/payreq/carol":
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			pr, err := uma.ParsePayRequest(b)
			if err != nil {
				t.Errorf("our payreq does not parse: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			inv, err := f.node.CreateInvoice(context.Background(), lightning.InvoiceRequest{AmountMsat: pr.Amount * 1000, Expiry: time.Minute,
				DescriptionHash: lightning.Hash(uma.DescriptionHash("[]", nil))})
			if err != nil {
				t.Errorf("invoice for carol: %v", err)
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			resp := &uma.PayReqResponse{PR: inv.PaymentRequest,
				Converted: &uma.Converted{Amount: pr.Amount, CurrencyCode: "USD", Decimals: 2, Multiplier: 1000},
				PayeeData: &uma.PayeeData{Identifier: "$carol@" + domain, Compliance: &uma.CompliancePayeeData{NodePubKey: info.PubKey}}}
			_ = resp.Sign(keys.Signing, pr.PayerData.Identifier, time.Now())
			b, _ = resp.MarshalJSON()
			_, _ = w.Write(b)
		default:
			t.Logf("carol's VASP: no %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	domain = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
	keys = newKeys(t, domain)
	return domain, keys
}

// TestUmaRequestStatus: GET /uma-requests/{id} and GET /uma-requests say
// whether a request is paid, as the platform would otherwise have to work
// out from its transactions: "status" PENDING while it can be paid,
// PROCESSING while a payment of it is in flight and PAID once one
// COMPLETED, both with that payment's "transactionId"; a FAILED payment
// leaves it PENDING (it can be paid again), and one unpaid past its expiry
// is EXPIRED. GET /uma-requests?status= lists the requests of a status,
// paginated; another status is a 400.
func TestUmaRequestStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		domain, keys := carolsVASP(t, f)
		receive := func(cents, expiresIn int64) (id string, expiresAt time.Time) {
			t.Helper()
			inv, _, body := umaRequest(t, f, domain, keys.Signing, func(inv *uma.Invoice) {
				inv.InvoiceUUID, inv.Amount = uuid.NewString(), cents
				inv.Expiration = time.Now().Unix() + expiresIn
			})
			if status, raw, _ := f.call(t, "POST", "/api/uma/request_pay", nil, body); status != 200 {
				t.Fatalf("UMA request: %d %s", status, raw)
			}
			var id0 string
			if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_requests WHERE invoice_uuid = $1`, inv.InvoiceUUID).Scan(&id0); err != nil {
				t.Fatal(err)
			}
			return id0, time.Unix(inv.Expiration, 0)
		}
		// get reads request id and checks its status and transactionId
		// ("": left out).
		get := func(id, status, tx string) {
			t.Helper()
			code, raw, m := f.call(t, "GET", "/uma-requests/"+id, &f.viewer, "")
			if code != 200 {
				t.Fatalf("GET /uma-requests/%s: %d %s", id, code, raw)
			}
			got, has := m["transactionId"]
			if m["status"] != status || (tx == "" && has) || (tx != "" && got != tx) {
				t.Fatalf("GET /uma-requests/%s: %s\nwant status %s, transactionId %q", id, raw, status, tx)
			}
		}
		// list lists the requests of status (all when "") and checks their
		// ids, newest first.
		list := func(status string, ids ...string) {
			t.Helper()
			q := "/uma-requests?userId=" + f.alice.UserID
			if status != "" {
				q += "&status=" + status
			}
			code, raw, m := f.call(t, "GET", q, &f.viewer, "")
			data, _ := m["data"].([]any)
			if code != 200 || len(data) != len(ids) {
				t.Fatalf("GET %s: %d %s\nwant %v", q, code, raw, ids)
			}
			for i, x := range data {
				r := x.(map[string]any)
				if r["id"] != ids[i] || (status != "" && r["status"] != status) {
					t.Fatalf("GET %s: %s\nwant %v", q, raw, ids)
				}
				// Listed as read.
				_, one, _ := f.call(t, "GET", "/uma-requests/"+ids[i], &f.viewer, "")
				if a, b := jsonValue(t, one), jsonValue(t, []byte(mustJSON(t, r))); !reflect.DeepEqual(a, b) {
					t.Fatalf("GET %s lists\n%v\nGET /uma-requests/%s reads\n%v", q, b, ids[i], a)
				}
			}
		}
		// quote makes a receiver-locked quote paying request id of cents.
		quote := func(id string, cents int64) string {
			t.Helper()
			code, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape("$carol@"+domain)+"?userId="+f.alice.UserID, &f.admin, "")
			if code != 200 {
				t.Fatalf("lookup of carol: %d %s", code, raw)
			}
			body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"USD","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":%d,"umaRequestId":%q}`,
				m["lookupId"], cents, id)
			code, raw, m = f.call(t, "POST", "/quotes", &f.admin, body)
			if code != 201 {
				t.Fatalf("quote for %s: %d %s", id, code, raw)
			}
			return m["quoteId"].(string)
		}
		execute := func(q string) (status, tx string) {
			t.Helper()
			code, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
			if code != 200 {
				t.Fatalf("execute %s: %d %s", q, code, raw)
			}
			return m["status"].(string), m["id"].(string)
		}

		paid, _ := receive(5_00, 3600)
		soon, soonAt := receive(6_00, 4) // expires in a few seconds
		unpaid, _ := receive(7_00, 3600)
		unpaid2, _ := receive(8_00, 3600)
		for _, id := range []string{paid, soon, unpaid, unpaid2} {
			get(id, "PENDING", "")
		}

		// A FAILED payment does not count: PENDING, payable again.
		q1 := quote(paid, 5_00)
		get(paid, "PENDING", "")
		f.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		st, _ := execute(q1)
		f.node.SetFaults(embedded.Faults{})
		if st != "FAILED" {
			t.Fatalf("execute under a routing fault: %s", st)
		}
		get(paid, "PENDING", "")

		// Paid again, its payment held up in flight a while: PROCESSING,
		// then PAID, naming the payment each time.
		q2 := quote(paid, 5_00)
		f.node.SetFaults(embedded.Faults{SettleDelay: 2 * time.Second})
		defer f.node.SetFaults(embedded.Faults{})
		type result struct{ status, tx string }
		done := make(chan result, 1)
		go func() {
			r, err := http.NewRequest("POST", f.base+"/quotes/"+q2+"/execute", nil)
			if err != nil {
				done <- result{status: err.Error()}
				return
			}
			r.SetBasicAuth(f.admin.ClientID, f.admin.ClientSecret)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				done <- result{status: err.Error()}
				return
			}
			defer resp.Body.Close()
			var m struct{ Status, ID string }
			_ = json.NewDecoder(resp.Body).Decode(&m)
			done <- result{m.Status, m.ID}
		}()
		var processing map[string]any
		var executed result
	poll:
		for {
			select {
			case executed = <-done:
				break poll
			default:
			}
			if _, _, m := f.call(t, "GET", "/uma-requests/"+paid, &f.viewer, ""); m["status"] == "PROCESSING" && processing == nil {
				processing = m
			}
			time.Sleep(10 * time.Millisecond)
		}
		f.node.SetFaults(embedded.Faults{})
		if executed.status != "COMPLETED" || !strings.HasPrefix(executed.tx, "Transaction:") {
			t.Fatalf("execute: %+v", executed)
		}
		if processing == nil || processing["transactionId"] != executed.tx {
			t.Fatalf("while its payment %s was in flight, the request read %v; want PROCESSING naming it", executed.tx, processing)
		}
		get(paid, "PAID", executed.tx)
		code, _, qm := f.call(t, "GET", "/quotes/"+q2, &f.viewer, "")
		if code != 200 || qm["transactionId"] != executed.tx {
			t.Fatalf("quote %s: %v, want transactionId %s", q2, qm, executed.tx)
		}

		// Unpaid past its expiry: EXPIRED.
		time.Sleep(time.Until(soonAt))
		get(soon, "EXPIRED", "")
		get(unpaid, "PENDING", "")

		list("", unpaid2, unpaid, soon, paid)
		list("PAID", paid)
		list("EXPIRED", soon)
		list("PROCESSING")
		list("PENDING", unpaid2, unpaid)
		// The filter pages like every list.
		path := "/uma-requests?status=PENDING&limit=1&userId=" + f.alice.UserID
		code, raw, m := f.call(t, "GET", path, &f.viewer, "")
		data, _ := m["data"].([]any)
		if code != 200 || len(data) != 1 || data[0].(map[string]any)["id"] != unpaid2 || m["hasMore"] != true {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
		path += "&cursor=" + m["nextCursor"].(string)
		code, raw, m = f.call(t, "GET", path, &f.viewer, "")
		data, _ = m["data"].([]any)
		if code != 200 || len(data) != 1 || data[0].(map[string]any)["id"] != unpaid || m["hasMore"] != false {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
		// Only the four statuses; a user's other requests are not listed.
		for _, bad := range []string{"paid", "COMPLETED", "FAILED", "x%00"} {
			code, raw, _ := f.call(t, "GET", "/uma-requests?status="+bad, &f.viewer, "")
			wantAPIError(t, code, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
		code, raw, m = f.call(t, "GET", "/uma-requests?status=PAID&userId="+f.bob.UserID, &f.viewer, "")
		if data, _ := m["data"].([]any); code != 200 || len(data) != 0 {
			t.Fatalf("bob's paid UMA requests: %d %s", code, raw)
		}
	})
}
