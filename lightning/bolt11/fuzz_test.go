package bolt11

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// FuzzDecode feeds hostile payment requests to Decode: it must never panic,
// must fail only with the lightning sentinels, and whatever it accepts must
// be within the ranges the rest of vaspd relies on and decode the same way
// again. Seeds: the checked-in corpus under testdata/fuzz/FuzzDecode plus the
// invoices below.
func FuzzDecode(f *testing.F) {
	key := testKey(f)
	for _, amt := range []int64{0, 1000, 2_100_000_000_000_000_000} {
		s, err := Encode(Request{
			Network: Regtest, PaymentHash: sha256.Sum256([]byte("p")), PaymentAddr: sha256.Sum256([]byte("s")),
			AmountMsat: amt, DescriptionHash: sha256.Sum256([]byte("d")),
			Timestamp: time.Unix(1_700_000_000, 0), Expiry: time.Hour,
		}, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(withExpiry(f, s, 1<<55+3600, key)) // wraps to an hour in zpay32
	}
	f.Add(specHashedDescription)
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := Decode(s, "")
		if err != nil {
			if !errors.Is(err, lightning.ErrInvalidInvoice) && !errors.Is(err, lightning.ErrWrongNetwork) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if inv.AmountMsat < 0 || inv.AmountMsat > MaxAmountMsat {
			t.Fatalf("amount %d out of range", inv.AmountMsat)
		}
		if inv.Expiry <= 0 || inv.Expiry > MaxExpiry {
			t.Fatalf("expiry %v out of range", inv.Expiry)
		}
		if len(inv.Destination) != 66 || inv.Network == "" || inv.Timestamp.IsZero() && !strings.Contains(s, "1qqqqqqq") {
			t.Fatalf("incomplete invoice %+v", inv)
		}
		again, err := Decode(s, inv.Network)
		if err != nil {
			t.Fatalf("accepted with network \"\" but not with %s: %v", inv.Network, err)
		}
		if again.PaymentHash != inv.PaymentHash || again.AmountMsat != inv.AmountMsat || again.Destination != inv.Destination {
			t.Fatal("decoding twice gave different invoices")
		}
	})
}
