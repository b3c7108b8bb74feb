package embedded_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A payment hash identifies one invoice. After a payment FAILED, paying
// another invoice with the same hash must not retry under the old record —
// the new request delivered to the old payee — nor replace it: it is
// refused, by Pay and by PreparePayment's record, and nothing moves. The
// recorded invoice itself, however written, is tried again.
func TestPayOtherInvoiceSameHash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		real := newInvoice(t, bob, 30_000)

		// Someone else's invoice for bob's payment hash, to a payee no
		// devnet peer serves: the payment fails with NO_ROUTE.
		key, _ := secp256k1.GeneratePrivateKey()
		fake, err := bolt11.Encode(bolt11.Request{
			Network: bolt11.Regtest, PaymentHash: real.PaymentHash, PaymentAddr: sha256.Sum256([]byte("addr")),
			AmountMsat: 30_000, DescriptionHash: sha256.Sum256([]byte("d")),
			Timestamp: c.clock.Now().Truncate(time.Second), Expiry: time.Hour,
		}, key)
		if err != nil {
			t.Fatal(err)
		}
		fakePayee := hex.EncodeToString(key.PubKey().SerializeCompressed())
		if p := payFinal(t, alice, fake); p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("first payment: %+v; want FAILED/NO_ROUTE", p)
		}
		before := balance(t, alice)

		p, err := alice.Pay(testCtx(t), lightning.PayRequest{Invoice: real.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second})
		if !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Fatalf("pay another invoice with the same hash: %+v, %v; want ErrInvalidInvoice", p, err)
		}
		record, err := alice.PreparePayment(testCtx(t), lightning.PayRequest{Invoice: real.PaymentRequest, MaxFeeMsat: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(testCtx(t), func(tx *store.Tx) error { return record(testCtx(t), tx) }); !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Fatalf("record another invoice with the same hash: %v; want ErrInvalidInvoice", err)
		}
		tr, err := alice.TrackPayment(testCtx(t), real.PaymentHash)
		if err != nil || tr.PaymentRequest != fake || tr.Destination != fakePayee || tr.Status != lightning.StatusFailed {
			t.Fatalf("record after the refusals: %+v, %v; want the first invoice's, FAILED", tr, err)
		}
		if got := balance(t, alice); got != before {
			t.Fatalf("alice's balance %d, want %d", got, before)
		}
		if inv, err := bob.LookupInvoice(testCtx(t), real.PaymentHash); err != nil || inv.State != lightning.InvoiceOpen {
			t.Fatalf("bob's invoice: %+v, %v; want OPEN", inv, err)
		}

		// The same invoice in upper case is the same invoice: tried again.
		if p := payFinal(t, alice, strings.ToUpper(fake)); p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("retry: %+v; want FAILED/NO_ROUTE", p)
		}
	})
}
