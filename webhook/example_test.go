package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/vaspd/vaspd/webhook"
)

// A platform receiving vaspd webhooks: verify the Standard Webhooks
// signature with the endpoint secret, de-duplicate on webhookId, and answer
// a pending incoming payment with the receiver information it asks for.
func Example_receiving() {
	// The endpoint secret as vaspd issued it (here: the published test
	// vector's; in production, from your configuration).
	const secret = "whsec_wIoKh6qFTFFdpP4PjwU6ZYC2vxhYqb8JyBM2mBxIApk="

	verifier, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}})
	if err != nil {
		log.Fatal(err)
	}
	handler, err := webhook.NewHandler(webhook.HandlerConfig{
		Verifier: verifier,
		Store:    &webhook.MemoryStore{}, // one process; for several, or across restarts, a *webhook.SQLStore (ExampleNewSQLStore)
		Logger:   slog.New(slog.DiscardHandler),
		Handler: webhook.EventHandlerFunc(func(ctx context.Context, ev webhook.Event) (webhook.Reply, error) {
			switch e := ev.(type) {
			case *webhook.IncomingPaymentWebhook:
				if e.Transaction.Status != webhook.StatusPending {
					return webhook.OK(), nil // a later status: record it
				}
				if e.Transaction.ReceivedAmount.Amount > 1_000_000 { // over 10,000.00 USD
					return webhook.NeedMoreInfo(webhook.FieldTaxID), nil
				}
				info := map[string]any{}
				for _, f := range e.RequestedReceiverUserInfoFields {
					if f.Name == webhook.FieldNationality {
						info[f.Name] = "US"
					}
				}
				return webhook.Approve(info), nil
			case *webhook.OutgoingPaymentWebhook:
				// Mark e.Transaction.ID completed or failed in your records.
			case *webhook.UmaRequestWebhook:
				// Show user e.PlatformUserID the request; to pay it, quote
				// it receiver-locked with "umaRequestId": e.UmaRequest.ID.
			}
			return webhook.OK(), nil // TEST, UMA_REQUEST, and types you do not know
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/vaspd", handler)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What vaspd sends: the body of the published INCOMING_PAYMENT vector,
	// signed now, delivered twice (a retry after a lost response), then a
	// forgery.
	body := []byte(`{"transaction":{"id":"Transaction:01a2020d-f8f0-7a11-9b3c-2e4d6f8a0b12","status":"PENDING","type":"INCOMING","receiverUmaAddress":"$bob@vasp.example","receivedAmount":{"amount":50000,"currency":{"code":"USD","decimals":2}}},"requestedReceiverUserInfoFields":[{"name":"NATIONALITY","mandatory":true}],"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02","type":"INCOMING_PAYMENT"}`)
	send := func(body []byte, secret string) {
		h, err := webhook.Sign(webhook.Keys{Secrets: []string{secret}}, "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02", time.Now(), body)
		if err != nil {
			log.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/vaspd", bytes.NewReader(body))
		req.Header = h
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		reply, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, string(reply))
	}
	send(body, secret)
	send(body, secret)
	forger, _ := webhook.NewSecret()
	send(bytes.Replace(body, []byte("Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02"), []byte("Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a03"), 1), forger)

	// Output:
	// 200 {"receiverUserInfo":{"NATIONALITY":"US"}}
	// 409 {"status":409,"code":"WEBHOOK_ALREADY_PROCESSED","message":"webhook Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02 was already processed"}
	// 401 {"status":401,"code":"INVALID_SIGNATURE","message":"signature verification failed"}
}
