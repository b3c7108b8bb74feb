package lnd_test

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Amounts above 21M BTC are refused as the embedded node refuses them: a
// zero-amount payment with such an amount is ErrAmountMismatch, an invoice
// lnd decodes to such an amount is ErrInvalidInvoice; nothing is recorded
// or sent. The largest valid amount is paid.
func TestPayAmountAbove21M(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)

		zero, zeroHash, _ := f.payReq(0, time.Hour)
		_, err := n.Pay(ctx, lightning.PayRequest{Invoice: zero, AmountMsat: lightning.MaxAmountMsat + 1, Timeout: 5 * time.Second})
		if !errors.Is(err, lightning.ErrAmountMismatch) {
			t.Errorf("zero-amount invoice paid with 21M BTC + 1 msat: %v, want ErrAmountMismatch", err)
		}

		huge, hugeHash, _ := f.payReq(1000, time.Hour)
		f.mu.Lock()
		f.payReqs[huge]["num_msat"] = strconv.FormatInt(lightning.MaxAmountMsat+1, 10)
		f.mu.Unlock()
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: huge, Timeout: 5 * time.Second}); !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Errorf("invoice decoded to 21M BTC + 1 msat: %v, want ErrInvalidInvoice", err)
		}
		for _, h := range []lightning.Hash{zeroHash, hugeHash} {
			if _, err := n.TrackPayment(ctx, h); !errors.Is(err, lightning.ErrNotFound) {
				t.Errorf("a refused payment was recorded: %v", err)
			}
		}
		if f.sendCount() != 0 {
			t.Fatalf("%d payments reached lnd; none should have", f.sendCount())
		}

		p, err := n.Pay(ctx, lightning.PayRequest{Invoice: zero, AmountMsat: lightning.MaxAmountMsat, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.AmountMsat != lightning.MaxAmountMsat {
			t.Fatalf("zero-amount invoice paid with exactly 21M BTC: %+v, %v", p, err)
		}
	})
}

// CreateInvoice keeps the interface's contract, as the embedded node does:
// an amount up to 21M BTC, an expiry up to a year, and a description hash
// (UMA, LUD-18). Refused requests never reach lnd.
func TestCreateInvoiceLimits(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	dh := lightning.Hash{7}
	for name, req := range map[string]lightning.InvoiceRequest{
		"negative amount":     {AmountMsat: -1, DescriptionHash: dh, Expiry: time.Hour},
		"21M BTC + 1 msat":    {AmountMsat: lightning.MaxAmountMsat + 1, DescriptionHash: dh, Expiry: time.Hour},
		"no description hash": {AmountMsat: 1000, Expiry: time.Hour},
		"negative expiry":     {AmountMsat: 1000, DescriptionHash: dh, Expiry: -time.Second},
		"expiry that wraps":   {AmountMsat: 1000, DescriptionHash: dh, Expiry: time.Duration(1<<63 - 1)},
	} {
		if inv, err := n.CreateInvoice(ctx, req); err == nil {
			t.Errorf("%s: CreateInvoice succeeded: %+v", name, inv)
		}
	}
	f.mu.Lock()
	created := len(f.invoices)
	f.mu.Unlock()
	if created != 0 {
		t.Fatalf("%d refused invoices reached lnd", created)
	}
	inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: lightning.MaxAmountMsat, DescriptionHash: dh, Expiry: time.Hour})
	if err != nil || inv.AmountMsat != lightning.MaxAmountMsat || inv.DescriptionHash != dh {
		t.Fatalf("invoice for exactly 21M BTC: %+v, %v", inv, err)
	}
}

// CreateInvoice's expiry bound is lightning.MaxInvoiceExpiry, the one the
// embedded node and bolt11 use: exactly it is asked of lnd, a second more
// is refused before reaching it.
func TestCreateInvoiceExpiryBound(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	dh := lightning.Hash{7}
	if inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: dh, Expiry: lightning.MaxInvoiceExpiry + time.Second}); err == nil {
		t.Fatalf("expiry beyond lightning.MaxInvoiceExpiry: CreateInvoice succeeded: %+v", inv)
	}
	inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: dh, Expiry: lightning.MaxInvoiceExpiry})
	if err != nil || inv.ExpiresAt.Sub(inv.CreatedAt) != lightning.MaxInvoiceExpiry {
		t.Fatalf("expiry of exactly lightning.MaxInvoiceExpiry: %+v, %v", inv, err)
	}
}

// An expiry lnd reports is bounded as bolt11 bounds it (a year), never
// multiplied by time.Second unchecked, which wraps: an invoice's is read
// as a year (or zero below zero), so it is still delivered and polled; a
// payment request's is ErrInvalidInvoice and nothing is sent.
func TestReportedExpiryBounded(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	year := 365 * 24 * time.Hour
	for expiry, want := range map[string]time.Duration{
		"9223372036854775807": year, "9223372037": year, "31536001": year, "31536000": year, "600": 10 * time.Minute, "-5": 0,
	} {
		h := f.addInvoice(map[string]any{"value_msat": "1000", "expiry": expiry})
		inv, err := n.LookupInvoice(ctx, h)
		if err != nil {
			t.Fatalf("expiry %s: %v", expiry, err)
		}
		if got := inv.ExpiresAt.Sub(inv.CreatedAt); got != want {
			t.Errorf("expiry %s: invoice expires %s after creation, want %s", expiry, got, want)
		}
	}
	for _, expiry := range []string{"9223372036854775807", "9223372037", "31536001", "-1"} {
		b, _, _ := f.payReq(1000, time.Hour)
		f.mu.Lock()
		f.payReqs[b]["expiry"] = expiry
		f.mu.Unlock()
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: b, Timeout: 5 * time.Second}); !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Errorf("payment request with expiry %s: %v, want ErrInvalidInvoice", expiry, err)
		}
	}
	if f.sendCount() != 0 {
		t.Fatalf("%d payments reached lnd; none should have", f.sendCount())
	}
}

// SendPaymentV2's timeout_seconds is how long lnd keeps trying routes: the
// wait asked for (PayRequest.Timeout, at least the configured PayTimeout)
// in whole seconds, rounded up, at most an hour. Any Timeout, up to the
// longest a time.Duration holds, gives lnd 1 to 3600 seconds: the
// rounding must not wrap into a negative number.
func TestSendTimeoutSeconds(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t), func(o *lnd.Options) { o.PayTimeout = 2 * time.Second })
	for _, tc := range []struct {
		timeout time.Duration
		want    float64
	}{
		{0, 2}, {time.Second, 2}, {2500 * time.Millisecond, 3}, {time.Hour, 3600}, {5 * time.Hour, 3600},
		{math.MaxInt64 - time.Second + 2, 3600}, {math.MaxInt64, 3600},
	} {
		pr, _, _ := f.payReq(10_000, time.Hour)
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: tc.timeout}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("timeout %s: %+v, %v", tc.timeout, p, err)
		}
		f.mu.Lock()
		got := f.sends[len(f.sends)-1]["timeout_seconds"]
		f.mu.Unlock()
		if got != tc.want {
			t.Errorf("timeout %s: timeout_seconds %v, want %v", tc.timeout, got, tc.want)
		}
	}
}
