package vasp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// Deliveries of payment requests are counted by outcome: DELIVERED, or the
// failure's UMA code. The payer's VASP chooses a refusal's code, so one UMA
// does not define is OTHER: a counterparty cannot grow the series.
func TestPaymentRequestDeliveryMetric(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var host string
		var refusing atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/.well-known/uma-configuration":
				io.WriteString(rw, `{"uma_request_endpoint":"http://`+host+`/uma-requests"}`)
			case r.URL.Path == "/uma-requests" && refusing.Load():
				// A refusal with a code of the payer's own making.
				rw.WriteHeader(http.StatusBadRequest)
				io.WriteString(rw, `{"status":"ERROR","reason":"not today","code":"MADE_UP_BY_THE_PAYER"}`)
			case r.URL.Path == "/uma-requests":
				io.WriteString(rw, `{}`)
			default:
				http.NotFound(rw, r)
			}
		}))
		t.Cleanup(srv.Close)
		host = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		reg := prometheus.NewRegistry()
		s := w.service(t, func(o *vasp.Options) { o.Registerer = reg })
		outcomes := func() map[string]float64 { return series(t, reg, "vaspd_payment_request_deliveries_total") }

		refusing.Store(false)
		if p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$alice@" + host }); p.Delivery.Status != vasp.DeliveryDelivered {
			t.Fatalf("delivery %+v", p.Delivery)
		}
		refusing.Store(true)
		if p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$carol@" + host }); p.Delivery.Status != vasp.DeliveryFailed ||
			p.Delivery.Code != "MADE_UP_BY_THE_PAYER" {
			t.Fatalf("delivery %+v", p.Delivery)
		}
		if p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$dave@localhost:1" }); p.Delivery.Code != string(uma.CodeUMAConfigurationFetchError) {
			t.Fatalf("delivery %+v", p.Delivery)
		}
		got := outcomes()
		want := map[string]float64{"outcome=DELIVERED": 1, "outcome=OTHER": 1, "outcome=" + string(uma.CodeUMAConfigurationFetchError): 1}
		if len(got) != len(want) {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("outcomes %v, want %v", got, want)
			}
		}
	})
}
