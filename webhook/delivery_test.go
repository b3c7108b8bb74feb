package webhook_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/webhook"
)

// TestReceivesWhatDeliverySends runs vaspd's real sender (package delivery)
// against this package's Handler, on SQLite and PostgreSQL: the receiver
// verifies the Standard Webhooks signature (v1 with the endpoint secret, or
// v1a with vaspd's public key) or X-UMAaas-Signature, decodes the typed
// event, and its replies reach the synchronous caller; a queued event is
// handled exactly once.
func TestReceivesWhatDeliverySends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		svc, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}

		var mu sync.Mutex
		seen := map[string]int{} // webhookId -> handler runs
		got := make(chan webhook.Event, 10)
		platform := webhook.EventHandlerFunc(func(ctx context.Context, ev webhook.Event) (webhook.Reply, error) {
			mu.Lock()
			seen[ev.Envelope().WebhookID]++
			mu.Unlock()
			got <- ev
			if in, ok := ev.(*webhook.IncomingPaymentWebhook); ok && in.Transaction.Status == webhook.StatusPending {
				return webhook.NeedMoreInfo(webhook.FieldTaxID), nil
			}
			return webhook.OK(), nil
		})
		dedup, err := webhook.NewDBStore(db)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		defer srv.Close()
		// Each endpoint is its own receiver with its own store: the first
		// in vaspd's database, the others in memory.
		handle := func(path string, v webhook.Verifier, st webhook.Store) string {
			h, err := webhook.NewHandler(webhook.HandlerConfig{Verifier: v, Handler: platform, Store: st, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			mux.Handle("POST "+path, h)
			return srv.URL + path
		}

		// Endpoint 1: Standard Webhooks v1, with the secret vaspd issued.
		url1 := srv.URL + "/std"
		ep1, secret, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &url1})
		if err != nil {
			t.Fatal(err)
		}
		std, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		handle("/std", std, dedup)

		// A pending payment, sent synchronously: the 422 and its
		// requiredFields reach the caller.
		pending := &webhook.IncomingPaymentWebhook{Transaction: webhook.IncomingTransaction{
			Transaction:    webhook.Transaction{ID: "Transaction:01a2020d-f8f0-7a11-9b3c-2e4d6f8a0b12", Status: webhook.StatusPending, Type: webhook.TransactionIncoming},
			ReceivedAmount: webhook.CurrencyAmount{Amount: 50000, Currency: webhook.Currency{Code: "USD", Decimals: 2}},
		}}
		res, err := svc.Send(ctx, delivery.Event{Type: delivery.TypeIncomingPayment, Data: pending}, delivery.SendOptions{EndpointID: ep1.ID, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var reply webhook.IncomingPaymentWebhookUnprocessableResponse
		if res.Status != http.StatusUnprocessableEntity || json.Unmarshal(res.Body, &reply) != nil ||
			len(reply.RequiredFields) != 1 || reply.RequiredFields[0] != webhook.FieldTaxID {
			t.Fatalf("sync send: status %d, body %s, err %v", res.Status, res.Body, res.Err)
		}
		if ev := <-got; ev.Envelope().WebhookID != res.WebhookID {
			t.Fatalf("handler saw %s, sender sent %s", ev.Envelope().WebhookID, res.WebhookID)
		}

		// Endpoint 2: v1a only, with the public key vaspd serves.
		url2 := srv.URL + "/ed25519"
		yes := true
		ep2, _, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &url2, SignEd25519: &yes})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := svc.PublicKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ed, err := webhook.NewStandardVerifier(webhook.StandardConfig{PublicKeys: []string{pub}})
		if err != nil {
			t.Fatal(err)
		}
		handle("/ed25519", ed, &webhook.MemoryStore{})
		res, err = svc.Send(ctx, delivery.Event{Type: delivery.TypeTest}, delivery.SendOptions{EndpointID: ep2.ID, Timeout: 10 * time.Second})
		if err != nil || res.Status != http.StatusOK {
			t.Fatalf("v1a endpoint: %+v, %v", res, err)
		}
		if _, ok := (<-got).(*webhook.TestWebhook); !ok {
			t.Fatal("v1a endpoint: not a TEST webhook")
		}

		// Endpoint 3: X-UMAaas-Signature, as a UMAaaS v1 receiver checks it.
		url3 := srv.URL + "/umaaas"
		ep3, secret3, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &url3})
		if err != nil {
			t.Fatal(err)
		}
		u, err := webhook.NewUMAaaSVerifier(secret3)
		if err != nil {
			t.Fatal(err)
		}
		handle("/umaaas", u, &webhook.MemoryStore{})
		res, err = svc.Send(ctx, delivery.Event{Type: delivery.TypeTest}, delivery.SendOptions{EndpointID: ep3.ID, Timeout: 10 * time.Second})
		if err != nil || res.Status != http.StatusOK {
			t.Fatalf("X-UMAaas-Signature endpoint: %+v, %v", res, err)
		}
		<-got

		// A queued OUTGOING_PAYMENT reaches all three endpoints through the
		// worker, each handled once.
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- svc.Run(runCtx) }()
		fees := int64(12)
		var id string
		err = db.InTx(ctx, func(tx *store.Tx) error {
			id, err = svc.Enqueue(ctx, tx, delivery.Event{Type: delivery.TypeOutgoingPayment, Data: &webhook.OutgoingPaymentWebhook{
				Transaction: webhook.OutgoingTransaction{
					Transaction: webhook.Transaction{ID: "Transaction:2", Status: webhook.StatusCompleted, Type: webhook.TransactionOutgoing},
					SentAmount:  webhook.CurrencyAmount{Amount: 10550, Currency: webhook.Currency{Code: "USD", Decimals: 2}},
					Fees:        &fees, ExchangeRate: "0.92",
				},
			}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			select {
			case ev := <-got:
				o, ok := ev.(*webhook.OutgoingPaymentWebhook)
				if !ok || o.Transaction.ExchangeRate != "0.92" || *o.Transaction.Fees != 12 {
					t.Fatalf("queued event decoded as %#v", ev)
				}
			case <-ctx.Done():
				t.Fatal("queued event not delivered to every endpoint")
			}
		}
		stop()
		if err := <-done; err != nil && ctx.Err() == nil && runCtx.Err() == nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[id] != 3 {
			t.Fatalf("handler ran %d times for %s, want once per endpoint", seen[id], id)
		}
	})
}
