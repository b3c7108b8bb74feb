package embedded_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestExpiryBoundaryIsExact: an invoice is payable until its BOLT11 expiry,
// timestamp + expiry, to the microsecond, on the payer's side and on the
// payee's, whatever fraction of a second it was made in; from then on it is
// refused. Its reported ExpiresAt is that instant.
func TestExpiryBoundaryIsExact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
		for _, frac := range []time.Duration{0, 999 * time.Millisecond} {
			base := c.clock.Now().Truncate(time.Second).Add(time.Second + frac)
			c.clock.Set(base)
			mk := func() lightning.Invoice {
				inv, err := bob.CreateInvoice(testCtx(t), lightning.InvoiceRequest{
					AmountMsat: 3000, DescriptionHash: sha256.Sum256([]byte(t.Name() + time.Now().String())), Expiry: time.Minute,
				})
				if err != nil {
					t.Fatal(err)
				}
				return inv
			}
			inLast, atEnd := mk(), mk()
			dec, err := bolt11.Decode(inLast.PaymentRequest, "")
			if err != nil {
				t.Fatal(err)
			}
			if !inLast.ExpiresAt.Equal(dec.ExpiresAt()) {
				t.Fatalf("made at +%s: ExpiresAt %s, the invoice says %s", frac, inLast.ExpiresAt, dec.ExpiresAt())
			}
			c.clock.Set(inLast.ExpiresAt.Add(-time.Microsecond))
			if got, err := bob.LookupInvoice(testCtx(t), inLast.PaymentHash); err != nil || got.State != lightning.InvoiceOpen {
				t.Fatalf("made at +%s, a microsecond before expiry: %s, %v", frac, got.State, err)
			}
			if p := payFinal(t, alice, inLast.PaymentRequest); p.Status != lightning.StatusSucceeded {
				t.Fatalf("made at +%s, paid a microsecond before expiry: %s (%s)", frac, p.Status, p.FailureReason)
			}
			c.clock.Set(atEnd.ExpiresAt)
			if _, err := alice.Pay(testCtx(t), lightning.PayRequest{Invoice: atEnd.PaymentRequest, MaxFeeMsat: 1_000_000}); !errors.Is(err, lightning.ErrInvoiceExpired) {
				t.Fatalf("made at +%s, paid at expiry: %v, want ErrInvoiceExpired", frac, err)
			}
		}
	})
}
