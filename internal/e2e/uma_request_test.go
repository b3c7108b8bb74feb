package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// TestUmaRequestPaid: Bob's VASP sends Alice an UMA request (an UMA invoice
// signed with its key) at vasp1's uma_request_endpoint; Alice's platform
// hears of it (UMA_REQUEST), lists it and pays it with a receiver-locked
// quote naming it; Bob is credited exactly the amount asked.
func TestUmaRequestPaid(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)

		raw, err := store.GetSecret(t.Context(), b.daemon.DB(), "uma-signing-key")
		if err != nil {
			t.Fatal(err)
		}
		key, err := uma.ParsePrivateKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Endpoint string `json:"uma_request_endpoint"`
		}
		resp, err := http.Get(a.base + "/.well-known/uma-configuration")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()

		bobAddr := "$bob@" + b.domain
		inv := &uma.Invoice{ReceiverUMA: bobAddr, InvoiceUUID: uuid.NewString(), Amount: 7_50,
			ReceivingCurrency: uma.InvoiceCurrency{Code: "EUR", Name: "Euro", Symbol: "€", Decimals: 2},
			Expiration:        time.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true, UmaVersions: "1.0",
			SenderUMA: "$alice@" + a.domain, Callback: b.base + "/api/uma/payreq/bob"}
		if err := inv.Sign(key); err != nil {
			t.Fatal(err)
		}
		enc, _ := inv.Encode()
		body, _ := json.Marshal(uma.UmaRequest{Invoice: enc})
		resp, err = http.Post(cfg.Endpoint, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("UMA request to %s: %d", cfg.Endpoint, resp.StatusCode)
		}
		eventually(t, "the UMA_REQUEST webhook", func() bool {
			a.hooks.mu.Lock()
			defer a.hooks.mu.Unlock()
			for _, m := range a.hooks.got {
				if m["type"] == "UMA_REQUEST" {
					return true
				}
			}
			return false
		})
		var list struct {
			Data []struct {
				ID       string `json:"id"`
				Amount   int64  `json:"amount"`
				Currency string `json:"currency"`
			} `json:"data"`
		}
		a.mustCall("GET", "/uma-requests?userId="+alice.ID, nil, &list)
		if len(list.Data) != 1 || list.Data[0].Amount != 7_50 || list.Data[0].Currency != "EUR" {
			t.Fatalf("UMA requests %+v", list.Data)
		}
		req := list.Data[0]

		var l lookupResp
		a.mustCall("GET", "/receiver/"+bobAddr+"?userId="+alice.ID, nil, &l)
		quoteBody := map[string]any{"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
			"lockedCurrencySide": "SENDING", "lockedCurrencyAmount": 7_50, "umaRequestId": req.ID}
		if st, err := a.call("POST", "/quotes", quoteBody, nil); st != 400 || err == nil {
			t.Fatalf("a sender-locked quote for an UMA request: %d %v", st, err)
		}
		quoteBody["lockedCurrencySide"] = "RECEIVING"
		var q quoteResp
		a.mustCall("POST", "/quotes", quoteBody, &q)
		if q.TotalReceivingAmount != 7_50 {
			t.Fatalf("quote %+v", q)
		}
		// A second quote for the same request (a double click) is made,
		// but only one of the two can pay it.
		quoteBody["lookupId"] = a.lookup(alice.ID, bobAddr)
		var q2 quoteResp
		a.mustCall("POST", "/quotes", quoteBody, &q2)
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "req-"+req.ID)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 7_50 })
		st, err := a.call("POST", "/quotes/"+q2.QuoteID+"/execute", nil, nil)
		ae := wantError(t, "execute of a second quote for a paid UMA request", st, err, 409, "QUOTE_ALREADY_EXECUTED")
		if !strings.Contains(ae.Message, q.QuoteID) {
			t.Fatalf("the refusal does not name the quote that paid: %+v", ae)
		}
		// Paid: a new quote for it is refused before any payreq.
		quoteBody["lookupId"] = a.lookup(alice.ID, bobAddr)
		st, err = a.call("POST", "/quotes", quoteBody, nil)
		wantError(t, "a quote for a paid UMA request", st, err, 409, "QUOTE_ALREADY_EXECUTED")
		if got := a.balance(alice.ID, "USD"); got != 100_00-q.TotalSendingAmount {
			t.Fatalf("alice has %d, want %d: debited once", got, 100_00-q.TotalSendingAmount)
		}
		if got := b.balance(bob.ID, "EUR"); got != 7_50 {
			t.Fatalf("bob has %d, want 750: credited once", got)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
