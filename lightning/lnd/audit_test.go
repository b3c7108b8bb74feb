package lnd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TrackPayment answers a payment recorded final from the record, without
// asking lnd again; AuditPayment, the reconciliation's question, asks lnd
// itself, and changes no record: a payment recorded FAILED that lnd then
// paid is SUCCEEDED to AuditPayment (with lnd's amount and fee) while
// TrackPayment still says FAILED. A payment lnd never saw is ErrNotFound.
func TestAuditPaymentAsksLnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("pay: %s, %v; want FAILED", p.Status, err)
		}
		f.resolvePayment(hash, "SUCCEEDED", "") // lnd paid it after all
		p, err := n.AuditPayment(fctx(t), hash)
		if err != nil || p.Status != lightning.StatusSucceeded || p.AmountMsat != 10_000 || p.FeeMsat != 1000 || p.Preimage != preimage || p.PaymentHash != hash {
			t.Fatalf("audit: %+v, %v; want SUCCEEDED for 10000 msat, fee 1000", p, err)
		}
		if p, err := n.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("track after the audit: %s, %v; want the record's FAILED, unchanged", p.Status, err)
		}
		var other lightning.Hash
		other[0] = 1
		if _, err := n.AuditPayment(fctx(t), other); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("audit of a payment lnd never saw: %v; want ErrNotFound", err)
		}
	})
}
