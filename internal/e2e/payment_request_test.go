package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

type paymentRequestResp struct {
	ID           string `json:"id"`
	InvoiceUUID  string `json:"invoiceUUID"`
	Invoice      string `json:"invoice"`
	Link         string `json:"link"`
	Status       string `json:"status"`
	PaymentCount int    `json:"paymentCount"`
	Delivery     struct {
		Status  string `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"delivery"`
}

// TestPaymentRequestAcrossVASPs: Bob, on vasp2, asks $alice@vasp1 for
// €10. vasp2 issues and signs the UMA invoice and delivers it to vasp1's
// uma_request_endpoint; vasp1's platform hears of it (UMA_REQUEST) and pays
// it with a lookup and a receiver-locked quote naming it; vasp2 credits
// Bob once and the request is PAID, the payment naming it. A payreq for it
// again, and one for a request Bob cancelled, are refused by vasp2.
func TestPaymentRequestAcrossVASPs(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		aliceAddr, bobAddr := "$alice@"+a.domain, "$bob@"+b.domain

		ask := func(key string) paymentRequestResp {
			var p paymentRequestResp
			b.mustCall("POST", "/payment-requests", map[string]any{"userId": bob.ID, "amount": 10_00, "currency": "EUR",
				"senderUmaAddress": aliceAddr}, &p, "Idempotency-Key", key)
			if p.Status != "PENDING" || p.Delivery.Status != "DELIVERED" || p.Link != "uma://"+p.Invoice {
				t.Fatalf("payment request %+v", p)
			}
			return p
		}
		p := ask("ask-1")
		eventually(t, "the UMA_REQUEST webhook at vasp1", func() bool { return a.hooks.count("UMA_REQUEST") == 1 })
		var list struct {
			Data []struct {
				ID          string `json:"id"`
				InvoiceUUID string `json:"invoiceUUID"`
				Receiver    string `json:"receiverUmaAddress"`
			} `json:"data"`
		}
		a.mustCall("GET", "/uma-requests?userId="+alice.ID, nil, &list)
		if len(list.Data) != 1 || list.Data[0].InvoiceUUID != p.InvoiceUUID || list.Data[0].Receiver != bobAddr {
			t.Fatalf("vasp1's UMA requests %+v", list.Data)
		}
		umaReq := list.Data[0].ID

		// vasp1's platform pays it.
		var q quoteResp
		a.mustCall("POST", "/quotes", map[string]any{"lookupId": a.lookup(alice.ID, bobAddr), "sendingCurrencyCode": "USD",
			"receivingCurrencyCode": "EUR", "lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 10_00, "umaRequestId": umaReq}, &q)
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "pay-"+umaReq)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 10_00 })
		eventually(t, "the payment request PAID", func() bool {
			var got paymentRequestResp
			b.mustCall("GET", "/payment-requests/"+p.ID, nil, &got)
			return got.Status == "PAID" && got.PaymentCount == 1
		})
		eventually(t, "INCOMING_PAYMENT COMPLETED naming the request", func() bool {
			for _, m := range b.hooks.find("INCOMING_PAYMENT", "COMPLETED") {
				if tx, _ := m["transaction"].(map[string]any); tx["paymentRequestId"] == p.ID {
					return true
				}
			}
			return false
		})
		var paid struct {
			Data []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"data"`
		}
		b.mustCall("GET", "/transactions?paymentRequestId="+url.QueryEscape(p.ID), nil, &paid)
		if len(paid.Data) != 1 || paid.Data[0].Status != "COMPLETED" {
			t.Fatalf("vasp2's transactions paying the request: %+v", paid.Data)
		}

		// vasp1 pays it again, bypassing its own check: vasp2 refuses.
		status, body := payreqFrom(t, a, b, "bob", p.InvoiceUUID)
		if status != 400 || !strings.Contains(body, `"INVALID_INVOICE"`) {
			t.Fatalf("payreq for a paid request: %d %s", status, body)
		}
		// A request Bob cancels is refused to a quote naming it: the
		// payreq fails at vasp2.
		c := ask("ask-2")
		eventually(t, "the second UMA_REQUEST", func() bool { return a.hooks.count("UMA_REQUEST") == 2 })
		var cancelled paymentRequestResp
		b.mustCall("POST", "/payment-requests/"+c.ID+"/cancel", nil, &cancelled)
		if cancelled.Status != "CANCELLED" {
			t.Fatalf("cancel %+v", cancelled)
		}
		a.mustCall("GET", "/uma-requests?userId="+alice.ID+"&status=PENDING", nil, &list)
		if len(list.Data) != 1 || list.Data[0].InvoiceUUID != c.InvoiceUUID {
			t.Fatalf("vasp1's pending UMA requests %+v", list.Data)
		}
		st, err := a.call("POST", "/quotes", map[string]any{"lookupId": a.lookup(alice.ID, bobAddr), "sendingCurrencyCode": "USD",
			"receivingCurrencyCode": "EUR", "lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 10_00, "umaRequestId": list.Data[0].ID}, nil)
		ae := wantError(t, "a quote for a cancelled request", st, err, 424, "PAYREQ_REQUEST_FAILED")
		if ae.Details["umaCode"] != "INVALID_INVOICE" {
			t.Fatalf("refusal %+v", ae)
		}
		if got := b.balance(bob.ID, "EUR"); got != 10_00 {
			t.Fatalf("bob has %d, want 1000: credited once", got)
		}
		if got := a.balance(alice.ID, "USD"); got != 100_00-q.TotalSendingAmount {
			t.Fatalf("alice has %d, want %d", got, 100_00-q.TotalSendingAmount)
		}
		a.checkBooks()
		b.checkBooks()
	})
}

// payreqFrom POSTs to receiver's payreq URL for local a payreq paying
// invoiceUUID (€10, receiver-locked), signed with sender's key as its
// $alice: what sender's vaspd would send, without its own checks.
func payreqFrom(t *testing.T, sender, receiver *vaspProc, local, invoiceUUID string) (int, string) {
	t.Helper()
	raw, err := store.GetSecret(t.Context(), sender.daemon.DB(), "uma-signing-key")
	if err != nil {
		t.Fatal(err)
	}
	key, err := uma.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	pr := &uma.PayRequest{Amount: 10_00, SendingCurrency: "EUR", ReceivingCurrency: "EUR", InvoiceUUID: invoiceUUID,
		PayerData: &uma.PayerData{Identifier: "$alice@" + sender.domain, Compliance: &uma.CompliancePayerData{
			KycStatus: uma.KycVerified, NodePubKey: "02" + strings.Repeat("ab", 32)}}}
	if err := pr.Sign(key, time.Now()); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(pr)
	resp, err := http.Post(receiver.base+"/api/uma/payreq/"+local, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
