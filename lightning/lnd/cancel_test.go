package lnd_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// CancelInvoice reads lnd's answers: a canceled invoice, lnd's refusals
// (settled, unknown: plain errors whose message says which), an lnd built
// without the invoices sub-server (the gateway's 404 for a route it does
// not have: errors.ErrUnsupported, never ErrNotFound, which would say the
// invoice is unknown), and lnd not ready.
func TestCancelInvoiceAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		open := f.addInvoice(map[string]any{"value_msat": strconv.Itoa(21_000), "expiry": "600"})
		if err := n.CancelInvoice(ctx, open); err != nil {
			t.Fatalf("cancel an open invoice: %v", err)
		}
		if inv, err := n.LookupInvoice(ctx, open); err != nil || inv.State != lightning.InvoiceCanceled {
			t.Fatalf("after the cancel: %s, %v; want CANCELED", inv.State, err)
		}
		if err := n.CancelInvoice(ctx, open); err != nil {
			t.Fatalf("cancel a canceled invoice: %v, want nil", err)
		}

		settled := f.addSettled(t, 21_000)
		if err := n.CancelInvoice(ctx, settled); !errors.Is(err, lightning.ErrAlreadyPaid) {
			t.Fatalf("cancel a settled invoice: %v, want ErrAlreadyPaid", err)
		}
		if err := n.CancelInvoice(ctx, lightning.Hash{7}); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("cancel an unknown invoice: %v, want ErrNotFound", err)
		}

		f.mu.Lock()
		f.noInvoicesRPC = true
		f.mu.Unlock()
		other := f.addInvoice(map[string]any{"value_msat": strconv.Itoa(21_000), "expiry": "600"})
		err := n.CancelInvoice(ctx, other)
		if !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("cancel on an lnd without the invoices sub-server: %v, want errors.ErrUnsupported (and not ErrNotFound)", err)
		}
		if inv, err := n.LookupInvoice(ctx, other); err != nil || inv.State != lightning.InvoiceOpen {
			t.Fatalf("after the unsupported cancel: %s, %v; want OPEN", inv.State, err)
		}

		f.mu.Lock()
		f.noInvoicesRPC, f.intercept = false, "wallet locked, unlock it to enable full RPC access"
		f.mu.Unlock()
		if err := n.CancelInvoice(ctx, other); !errors.Is(err, lightning.ErrUnavailable) {
			t.Fatalf("cancel while lnd's wallet is locked: %v, want ErrUnavailable", err)
		}
	})
}
