package embedded_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// An invoice signed with SignInvoice exists for the node only once a
// SaveInvoice has committed: a rolled-back transaction leaves nothing the
// node would settle, and an invoice is stored once.
func TestSignAndSaveInvoiceInCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		n, err := embedded.Open(t.Context(), db, embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		if n.DB() != db {
			t.Fatal("DB is not the node's database")
		}
		req := lightning.InvoiceRequest{AmountMsat: 10_000, DescriptionHash: lightning.Hash{1}, Expiry: time.Hour}

		rolledBack, err := n.SignInvoice(req)
		if err != nil {
			t.Fatal(err)
		}
		errRollback := errors.New("roll back")
		err = db.InTx(t.Context(), func(tx *store.Tx) error {
			if err := n.SaveInvoice(t.Context(), tx, rolledBack); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		if _, err := n.LookupInvoice(t.Context(), rolledBack.PaymentHash); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("rolled-back invoice: %v", err)
		}

		inv, err := n.SignInvoice(req)
		if err != nil {
			t.Fatal(err)
		}
		if inv.PaymentHash == rolledBack.PaymentHash {
			t.Fatal("two invoices with one payment hash")
		}
		if err := db.InTx(t.Context(), func(tx *store.Tx) error { return n.SaveInvoice(t.Context(), tx, inv) }); err != nil {
			t.Fatal(err)
		}
		got, err := n.LookupInvoice(t.Context(), inv.PaymentHash)
		if err != nil {
			t.Fatal(err)
		}
		if got.PaymentRequest != inv.PaymentRequest || got.Preimage != inv.Preimage || got.AmountMsat != req.AmountMsat ||
			got.State != lightning.InvoiceOpen || !got.ExpiresAt.Equal(inv.ExpiresAt) {
			t.Fatalf("stored %+v, signed %+v", got, inv)
		}
		if err := n.SaveInvoice(t.Context(), db, inv); err == nil {
			t.Fatal("an invoice was stored twice")
		}
		bad := inv
		bad.Preimage = lightning.Hash{2}
		if err := n.SaveInvoice(t.Context(), db, bad); err == nil {
			t.Fatal("an invoice whose preimage does not match its hash was stored")
		}

		// Paid by the node itself, it settles like any other invoice.
		p, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 10 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		if got, err = n.LookupInvoice(t.Context(), inv.PaymentHash); err != nil || got.State != lightning.InvoiceSettled {
			t.Fatalf("after payment: %+v, %v", got, err)
		}
	})
}

// A payment recorded in the caller's transaction moves money only if that
// transaction commits; once it has, Pay delivers it exactly once.
func TestPreparePaymentInCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		if alice.DB() != db {
			t.Fatal("DB is not the node's database")
		}
		inv, err := bob.CreateInvoice(t.Context(), lightning.InvoiceRequest{AmountMsat: 50_000, DescriptionHash: lightning.Hash{3}, Expiry: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		balance := func(n *embedded.Node) int64 {
			t.Helper()
			b, err := n.Balance(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		a0, b0 := balance(alice), balance(bob)
		req := lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 10_000, Timeout: 10 * time.Second}

		// Refused before anything is recorded, as Pay refuses it.
		if _, err := alice.PreparePayment(t.Context(), lightning.PayRequest{Invoice: "lnbc1garbage"}); err == nil {
			t.Fatal("a malformed invoice was prepared")
		}

		record, err := alice.PreparePayment(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		errRollback := errors.New("roll back")
		if err := db.InTx(t.Context(), func(tx *store.Tx) error {
			if err := record(t.Context(), tx); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		if _, err := alice.TrackPayment(t.Context(), inv.PaymentHash); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("rolled-back payment: %v", err)
		}
		if got := balance(alice); got != a0 {
			t.Fatalf("rolled back, alice has %d, had %d", got, a0)
		}

		if err := db.InTx(t.Context(), func(tx *store.Tx) error { return record(t.Context(), tx) }); err != nil {
			t.Fatal(err)
		}
		p, err := alice.TrackPayment(t.Context(), inv.PaymentHash)
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("recorded: %+v, %v", p, err)
		}
		debited := a0 - balance(alice)
		if debited < 50_000 {
			t.Fatalf("recorded but debited %d", debited)
		}
		for range 2 { // a second Pay returns the same payment
			p, err = alice.Pay(t.Context(), req)
			if err != nil || p.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", p, err)
			}
		}
		if got := a0 - balance(alice); got != debited {
			t.Fatalf("debited %d, then %d", debited, got)
		}
		if got := balance(bob) - b0; got != 50_000 {
			t.Fatalf("bob received %d", got)
		}
	})
}
