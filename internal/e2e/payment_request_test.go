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
	"github.com/vaspd/vaspd/users"
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

// requestVASPs are the two VASPs of a payment request paid across them:
// $alice on vasp1 (a, USD, $100 deposited) pays what $bob on vasp2 (b,
// EUR) asks.
type requestVASPs struct {
	t                  *testing.T
	a, b               *vaspProc
	alice, bob         users.User
	aliceAddr, bobAddr string
}

func newRequestVASPs(t *testing.T, db dbKind) *requestVASPs {
	a, b := twoVASPs(t, db, nil)
	r := &requestVASPs{t: t, a: a, b: b, alice: a.user("alice", "USD", "Alice Sender"), bob: b.user("bob", "EUR", "Bob Receiver"),
		aliceAddr: "$alice@" + a.domain, bobAddr: "$bob@" + b.domain}
	a.deposit(r.alice.ID, "USD", 100_00)
	return r
}

// ask makes Bob's request of €10 from $alice with Idempotency-Key key:
// PENDING, delivered to vasp1, its link its invoice's.
func (r *requestVASPs) ask(key string) paymentRequestResp {
	r.t.Helper()
	var p paymentRequestResp
	r.b.mustCall("POST", "/payment-requests", map[string]any{"userId": r.bob.ID, "amount": 10_00, "currency": "EUR",
		"senderUmaAddress": r.aliceAddr}, &p, "Idempotency-Key", key)
	if p.Status != "PENDING" || p.Delivery.Status != "DELIVERED" || p.Link != "uma://"+p.Invoice {
		r.t.Fatalf("payment request %+v", p)
	}
	return p
}

// umaRequest waits for vasp1's platform to hear of p, the first request
// asked (UMA_REQUEST), and returns vasp1's id of it, its only UMA request,
// naming p's invoice and Bob.
func (r *requestVASPs) umaRequest(p paymentRequestResp) string {
	r.t.Helper()
	eventually(r.t, "the UMA_REQUEST webhook at vasp1", func() bool { return r.a.hooks.count("UMA_REQUEST") == 1 })
	var list struct {
		Data []struct {
			ID          string `json:"id"`
			InvoiceUUID string `json:"invoiceUUID"`
			Receiver    string `json:"receiverUmaAddress"`
		} `json:"data"`
	}
	r.a.mustCall("GET", "/uma-requests?userId="+r.alice.ID, nil, &list)
	if len(list.Data) != 1 || list.Data[0].InvoiceUUID != p.InvoiceUUID || list.Data[0].Receiver != r.bobAddr {
		r.t.Fatalf("vasp1's UMA requests %+v", list.Data)
	}
	return list.Data[0].ID
}

// quote is vasp1's platform's receiver-locked quote paying its UMA
// request umaReq (€10).
func (r *requestVASPs) quote(umaReq string) quoteResp {
	r.t.Helper()
	var q quoteResp
	r.a.mustCall("POST", "/quotes", map[string]any{"lookupId": r.a.lookup(r.alice.ID, r.bobAddr), "sendingCurrencyCode": "USD",
		"receivingCurrencyCode": "EUR", "lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 10_00, "umaRequestId": umaReq}, &q)
	return q
}

// pay executes quote (Idempotency-Key key), which must answer COMPLETED,
// and waits for Bob to be credited €10 and p to read PAID with one payment.
func (r *requestVASPs) pay(p paymentRequestResp, quote, key string) {
	r.t.Helper()
	var tx txResp
	r.a.mustCall("POST", "/quotes/"+quote+"/execute", nil, &tx, "Idempotency-Key", key)
	if tx.Status != "COMPLETED" {
		r.t.Fatalf("execute %+v", tx)
	}
	eventually(r.t, "bob credited", func() bool { return r.b.balance(r.bob.ID, "EUR") == 10_00 })
	eventually(r.t, "the payment request PAID", func() bool {
		var got paymentRequestResp
		r.b.mustCall("GET", "/payment-requests/"+p.ID, nil, &got)
		return got.Status == "PAID" && got.PaymentCount == 1
	})
}

// TestPaymentRequestAcrossVASPs: Bob, on vasp2, asks $alice@vasp1 for
// €10. vasp2 issues and signs the UMA invoice and delivers it to vasp1's
// uma_request_endpoint; vasp1's platform hears of it (UMA_REQUEST) and pays
// it with a lookup and a receiver-locked quote naming it; vasp2 credits
// Bob once and the request is PAID, the payment naming it. A payreq for it
// again, and one for a request Bob cancelled, are refused by vasp2.
func TestPaymentRequestAcrossVASPs(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		r := newRequestVASPs(t, db)
		a, b, alice, bob := r.a, r.b, r.alice, r.bob
		p := r.ask("ask-1")
		umaReq := r.umaRequest(p)

		// vasp1's platform pays it.
		q := r.quote(umaReq)
		r.pay(p, q.QuoteID, "pay-"+umaReq)
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
		c := r.ask("ask-2")
		eventually(t, "the second UMA_REQUEST", func() bool { return a.hooks.count("UMA_REQUEST") == 2 })
		var cancelled paymentRequestResp
		b.mustCall("POST", "/payment-requests/"+c.ID+"/cancel", nil, &cancelled)
		if cancelled.Status != "CANCELLED" {
			t.Fatalf("cancel %+v", cancelled)
		}
		var list struct {
			Data []struct {
				ID          string `json:"id"`
				InvoiceUUID string `json:"invoiceUUID"`
			} `json:"data"`
		}
		a.mustCall("GET", "/uma-requests?userId="+alice.ID+"&status=PENDING", nil, &list)
		if len(list.Data) != 1 || list.Data[0].InvoiceUUID != c.InvoiceUUID {
			t.Fatalf("vasp1's pending UMA requests %+v", list.Data)
		}
		st, err := a.call("POST", "/quotes", map[string]any{"lookupId": a.lookup(alice.ID, r.bobAddr), "sendingCurrencyCode": "USD",
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
