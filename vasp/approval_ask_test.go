package vasp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/webhook"
)

// askedService is a Service of w whose platform records its first approval
// ask (a PENDING INCOMING_PAYMENT webhook) on the channel returned, and
// answers every webhook 200 with body.
func askedService(t *testing.T, w *world, body string) (*vasp.Service, <-chan *webhook.IncomingPaymentWebhook) {
	t.Helper()
	asks := make(chan *webhook.IncomingPaymentWebhook, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ev, err := webhook.Parse(b)
		if in, ok := ev.(*webhook.IncomingPaymentWebhook); err == nil && ok && in.Transaction.Status == webhook.StatusPending {
			select {
			case asks <- in:
			default:
			}
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	hooks, err := delivery.New(w.db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
		t.Fatal(err)
	}
	return w.service(t, func(o *vasp.Options) { o.Webhooks, o.ApprovalTimeout = hooks, 5*time.Second }), asks
}

// firstAsk is the ask askedService's platform recorded.
func firstAsk(t *testing.T, asks <-chan *webhook.IncomingPaymentWebhook) *webhook.IncomingPaymentWebhook {
	t.Helper()
	select {
	case ask := <-asks:
		return ask
	default:
		t.Fatal("no PENDING INCOMING_PAYMENT webhook was sent")
		return nil
	}
}

// The approval ask, an INCOMING_PAYMENT webhook whose transaction is
// PENDING, carries reconciliationInstructions as the specification says
// every status but CREATED does (its pendingPayment example has them): the
// reference the platform matches the payment by is the one the later
// COMPLETED webhook and GET /transactions?reference= use, the transaction's id.
func TestNewApprovalAskHasReconciliationInstructions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s, asks := askedService(t, w, "")
		_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
		wantCode(t, err, "")
		ask := firstAsk(t, asks)
		ri := ask.Transaction.ReconciliationInstructions
		if ri == nil || ri.Reference != ask.Transaction.ID {
			t.Fatalf("the approval ask's reconciliationInstructions are %+v, want the reference %s", ri, ask.Transaction.ID)
		}
	})
}

// The approval ask lists what the platform may give in receiverUserInfo,
// in name order, and marks mandatory what its approval must give: not the
// identifier, which vaspd sends itself (the user's UMA address, whatever
// the platform says), nor the name of a user who has one (vaspd sends it;
// the platform may replace it). Both were listed mandatory, asking the
// platform for what it need not, and cannot, provide.
func TestApprovalAskListsWhatThePlatformMustGive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s, asks := askedService(t, w, `{"receiverUserInfo":{"EMAIL":"bob@example.com"}}`)
		_, err := s.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, uma.CounterpartyDataOptions{
			uma.DataIdentifier: {Mandatory: true}, uma.DataName: {Mandatory: true}, uma.DataEmail: {Mandatory: true},
			"nationality": {Mandatory: false}, uma.DataCompliance: {Mandatory: true},
		}))
		wantCode(t, err, "")
		ask := firstAsk(t, asks)
		want := []webhook.CounterpartyFieldDefinition{
			{Name: webhook.FieldEmail, Mandatory: true},
			{Name: webhook.FieldFullName, Mandatory: false},
			{Name: webhook.FieldNationality, Mandatory: false},
		}
		if !slices.Equal(ask.RequestedReceiverUserInfoFields, want) {
			t.Fatalf("requestedReceiverUserInfoFields %+v, want %+v", ask.RequestedReceiverUserInfoFields, want)
		}
	})
}
