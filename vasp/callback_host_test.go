package vasp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// hostPolicy is the default DomainPolicy, but refuses the host deny
// names once it is set: an operator's lists changed after a lookup.
type hostPolicy struct {
	vasp.DomainPolicy
	deny atomic.Pointer[string]
}

func (p *hostPolicy) CounterpartyAllowed(ctx context.Context, domain string) error {
	if d := p.deny.Load(); d != nil {
		return vasp.DomainPolicy{Deny: []string{*d}}.CounterpartyAllowed(ctx, domain)
	}
	return p.DomainPolicy.CounterpartyAllowed(ctx, domain)
}

// The receiver's lnurlp callback is where our user's payer data and
// travel-rule data go: its host is put to the policy as the address's
// domain is. hostile's receiver is $bob@localhost:port, its callback at
// http://127.0.0.1:port/cb, another host: a lookup is refused with 403
// COUNTERPARTY_NOT_ALLOWED, naming the host, when the lists deny that host
// or (an allow list) do not name it.
func TestLookupCallbackHostIsPutToThePolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		for _, tc := range []struct {
			name   string
			policy vasp.DomainPolicy
			ok     bool
		}{
			{"no lists", vasp.DomainPolicy{}, true},
			{"the callback's host denied", vasp.DomainPolicy{Deny: []string{"127.0.0.1"}}, false},
			{"the callback's host not allowed", vasp.DomainPolicy{Allow: []string{"localhost"}}, false},
			{"both allowed", vasp.DomainPolicy{Allow: []string{"localhost", "127.0.0.1"}}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{}; o.Compliance = tc.policy })
				_, err := s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
				if tc.ok {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantStatus(t, err, http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed)
				if !strings.Contains(err.Error(), "127.0.0.1") {
					t.Errorf("the error does not name the host: %v", err)
				}
			})
		}
	})
}

// A quote asks the policy about the callback's host again before it sends
// the payreq: the lists may have changed since the lookup.
func TestQuoteAsksThePolicyAboutTheCallbackHost(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		policy := &hostPolicy{}
		r := newRefresher(t, db, func(o *vasp.Options) { o.Compliance = policy })
		r.fund(t, 100_000)
		l := r.lookup(t)
		host := "127.0.0.1"
		policy.deny.Store(&host)
		_, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD",
			ReceivingCurrency: "EUR", LockedSide: vasp.LockedReceiving, Amount: 900})
		wantStatus(t, err, http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed)
		if n := r.payreqs.Load(); n != 0 {
			t.Fatalf("%d payreqs sent to a denied host", n)
		}
	})
}

// A post-transaction callback carries our node's UTXOs: not to a host the
// policy denies, though the counterparty's own domain is allowed.
func TestCallbackToADeniedHostIsNotSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		policy := &hostPolicy{}
		s := w.service(t, func(o *vasp.Options) { o.Compliance = policy })
		sink := newStatusSink(t)
		host := "127.0.0.1"
		policy.deny.Store(&host)
		tr := completed(t, w, s, sink.srv.URL+"/ok", w.clock.Now())
		allRounds(t, s)
		wantCallbackRefused(t, s, sink, tr.ID, "127.0.0.1")
	})
}

// A payment request names our user and their invoice: it is not POSTed to
// an uma_request_endpoint at a host the policy denies, though the payer's
// VASP's domain (whose uma-configuration named it) is allowed.
func TestPaymentRequestEndpointHostIsPutToThePolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var host string
		var posted atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/.well-known/uma-configuration":
				// The endpoint at 127.0.0.1, the VASP at localhost.
				_, _ = io.WriteString(rw, `{"uma_request_endpoint":"http://127.0.0.1:`+strings.TrimPrefix(host, "localhost:")+`/uma-requests"}`)
			case "/uma-requests":
				posted.Add(1)
				_, _ = io.WriteString(rw, `{}`)
			default:
				http.NotFound(rw, r)
			}
		}))
		t.Cleanup(srv.Close)
		host = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		s := w.service(t, func(o *vasp.Options) { o.Compliance = vasp.DomainPolicy{Deny: []string{"127.0.0.1"}} })
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$alice@" + host })
		if p.Delivery.Status != vasp.DeliveryFailed || p.Delivery.Code != "COUNTERPARTY_NOT_ALLOWED" || !strings.Contains(p.Delivery.Message, "127.0.0.1") {
			t.Fatalf("delivery %+v", p.Delivery)
		}
		if n := posted.Load(); n != 0 {
			t.Fatalf("the request was POSTed %d times to a denied host", n)
		}
	})
}
