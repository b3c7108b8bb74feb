package embedded_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// invoiceWithFeatures is a regtest invoice signed by a fresh key that sets
// the given feature bits, expiring in an hour.
func invoiceWithFeatures(t *testing.T, now time.Time, bits ...lnwire.FeatureBit) (string, lightning.Hash) {
	t.Helper()
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte(t.Name() + time.Now().String()))
	zi, err := zpay32.NewInvoice(&chaincfg.RegressionNetParams, hash, now.Truncate(time.Second),
		zpay32.Amount(5000), zpay32.DescriptionHash(sha256.Sum256([]byte("d"))), zpay32.Expiry(time.Hour),
		zpay32.PaymentAddr(sha256.Sum256([]byte("secret"))),
		zpay32.Features(lnwire.NewFeatureVector(lnwire.NewRawFeatureVector(bits...), lnwire.Features)))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := zi.Encode(zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		return ecdsa.SignCompact(priv, chainhash.HashB(msg), true), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return pr, hash
}

// TestUnknownRequiredFeatureRefused: an invoice requiring a feature the
// node does not support (an unknown even bit) is refused by Pay and
// PreparePayment as BOLT11 says, before anything is recorded; an unknown
// odd bit is ignored.
func TestUnknownRequiredFeatureRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice := c.alice()
		known := []lnwire.FeatureBit{lnwire.TLVOnionPayloadRequired, lnwire.PaymentAddrRequired, lnwire.MPPOptional}
		for _, bit := range []lnwire.FeatureBit{100, lnwire.AMPRequired, lnwire.PaymentMetadataRequired} {
			pr, hash := invoiceWithFeatures(t, c.clock.Now(), append(known, bit)...)
			req := lightning.PayRequest{Invoice: pr, MaxFeeMsat: 1_000_000, Timeout: 5 * time.Second}
			if _, err := alice.PreparePayment(testCtx(t), req); !errors.Is(err, lightning.ErrInvalidInvoice) {
				t.Fatalf("PreparePayment requiring feature %d: %v, want ErrInvalidInvoice", bit, err)
			}
			for range 2 { // the second Pay finds the invoice decoded already
				if p, err := alice.Pay(testCtx(t), req); !errors.Is(err, lightning.ErrInvalidInvoice) {
					t.Fatalf("Pay requiring feature %d: %s (%s), %v; want ErrInvalidInvoice", bit, p.Status, p.FailureReason, err)
				}
			}
			if _, err := alice.TrackPayment(testCtx(t), hash); !errors.Is(err, lightning.ErrNotFound) {
				t.Fatalf("invoice requiring feature %d: payment recorded (%v)", bit, err)
			}
		}
		// An unknown odd bit is optional: the payment is attempted (and
		// fails for want of a route to the made-up payee).
		pr, _ := invoiceWithFeatures(t, c.clock.Now(), append(known, 101)...)
		p, err := alice.Pay(testCtx(t), lightning.PayRequest{Invoice: pr, MaxFeeMsat: 1_000_000, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("invoice with an unknown odd bit: %s (%s), %v; want FAILED (NO_ROUTE)", p.Status, p.FailureReason, err)
		}
	})
}
