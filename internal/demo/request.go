package demo

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/vaspd/vaspd/webhook"
)

// paymentRequest is the demo's second act: Bob asks Alice to pay him
// (UMAD-09/11), and each side does what its platform would do, through the
// platform APIs only: vasp2 issues and delivers the signed UMA invoice,
// vasp1 announces it with UMA_REQUEST, Alice's platform pays it from what
// that webhook says, and vasp2 marks the request PAID. alice and bob are
// vaspd's user ids; amount is in euro cents. Steps are numbered from step.
func paymentRequest(ctx context.Context, out io.Writer, v1, v2 *instance, alice, bob string, amount int64, step int) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	aliceAddr := "$alice@" + v1.domain

	var p struct {
		ID           string `json:"id"`
		Link         string `json:"link"`
		InvoiceUUID  string `json:"invoiceUUID"`
		Status       string `json:"status"`
		PaymentCount int    `json:"paymentCount"`
		Delivery     struct {
			Status  string `json:"status"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"delivery"`
	}
	if err := v2.call(ctx, "POST", "/payment-requests", map[string]any{
		"userId": bob, "amount": amount, "currency": "EUR", "senderUmaAddress": aliceAddr,
	}, &p, "Idempotency-Key", "demo-ask-"+bob); err != nil {
		return err
	}
	say("%d. Bob asks Alice for €%s (POST /payment-requests on vasp2, senderUmaAddress %s): vasp2 signs an UMA invoice",
		step, money(amount), aliceAddr)
	say("     %s %s, %s; delivery %s (POSTed to vasp1's uma_request_endpoint)", p.ID, shorten(p.Link), p.Status, p.Delivery.Status)
	if p.Delivery.Status != "DELIVERED" {
		// The demo cannot go on: vasp1 never heard of the request.
		return fmt.Errorf("vasp2 did not deliver %s: %s %s", p.ID, p.Delivery.Code, p.Delivery.Message)
	}

	// The platform acts on the webhook, as a real one would: vasp1 sends
	// it from its outbox, after answering vasp2, so it is awaited.
	var req *webhook.UmaRequestWebhook
	if err := await(ctx, "the UMA_REQUEST webhook at vasp1", func() bool {
		req = v1.hooks.umaRequest(p.InvoiceUUID)
		return req != nil
	}); err != nil {
		return err
	}
	r := req.UmaRequest
	say("     [vasp1 platform] UMA_REQUEST from %s for %s%s to %s: %s; Alice agrees to pay it",
		r.ReceiverUmaAddress, symbol(r.Currency), money(r.Amount), aliceAddr, r.ID)

	lk, err := v1.lookup(ctx, alice, r.ReceiverUmaAddress)
	if err != nil {
		return err
	}
	say("%d. Lookup of the requester (as in step 4): %s → %s", step+1, r.ReceiverUmaAddress, lk.LookupID)
	q, err := v1.quote(ctx, map[string]any{
		"lookupId": lk.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": r.Currency,
		"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": r.Amount, "umaRequestId": r.ID,
	})
	if err != nil {
		return err
	}
	say("%d. Quote with umaRequestId (the payreq names the invoice; vasp2 checked it against Bob's request):", step+2)
	say("     Bob receives €%s; Alice pays $%s (our fee $%s); invoice %d msats (vasp2's fee %d msats); valid until %s",
		money(q.TotalReceivingAmount), money(q.TotalSendingAmount), money(q.FeesIncluded), q.InvoiceAmountMsats,
		q.ReceiverFeeMsats, q.ExpiresAt.Format(time.TimeOnly))
	tx, err := v1.execute(ctx, q.QuoteID)
	if err != nil {
		return err
	}
	say("%d. Execute: vasp1's node pays the invoice → %s %s", step+3, tx.ID, tx.Status)

	if err := await(ctx, "the payment request PAID at vasp2", func() bool {
		return v2.call(ctx, "GET", "/payment-requests/"+url.PathEscape(p.ID), nil, &p) == nil && p.Status == "PAID" &&
			v2.hooks.incomingFor(p.ID, webhook.StatusCompleted) != nil
	}); err != nil {
		return err
	}
	say("%d. vasp2 counts the payment for the request: GET /payment-requests/{id} → %s (%d payment);",
		step+4, p.Status, p.PaymentCount)
	say("     Bob's platform got INCOMING_PAYMENT COMPLETED naming %s.",
		v2.hooks.incomingFor(p.ID, webhook.StatusCompleted).Transaction.PaymentRequestID)
	return nil
}

// await polls done until it holds, for at most 20 s.
func await(ctx context.Context, what string, done func() bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not happen within 20 s", what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// shorten keeps a link's start and end: an UMA invoice is hundreds of
// characters, too long for a line.
func shorten(link string) string {
	if len(link) <= 40 {
		return link
	}
	return fmt.Sprintf("%s…%s (%d chars)", link[:20], link[len(link)-8:], len(link))
}

func symbol(code string) string {
	switch code {
	case "USD":
		return "$"
	case "EUR":
		return "€"
	}
	return code + " "
}
