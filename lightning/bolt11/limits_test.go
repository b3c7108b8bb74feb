package bolt11

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// bolt11's limits and its reading of a payment request are lightning's,
// which every backend shares (lnd included, which does not import bolt11):
// one source of truth, so that what one backend issues or pays another
// never bounds differently.
func TestLimitsAndNormalizationAreLightnings(t *testing.T) {
	if MaxExpiry != lightning.MaxInvoiceExpiry || MaxAmountMsat != lightning.MaxAmountMsat {
		t.Fatalf("MaxExpiry %s, MaxAmountMsat %d; lightning's %s, %d", MaxExpiry, MaxAmountMsat, lightning.MaxInvoiceExpiry, lightning.MaxAmountMsat)
	}
	r := Request{Network: Regtest, PaymentHash: sha256.Sum256([]byte("p")), PaymentAddr: sha256.Sum256([]byte("s")),
		DescriptionHash: sha256.Sum256([]byte("m")), Timestamp: time.Unix(1_700_000_000, 0), Expiry: lightning.MaxInvoiceExpiry}
	s, err := Encode(r, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{s, strings.ToUpper(s), " lightning:" + s + "\n", "LIGHTNING:" + strings.ToUpper(s)} {
		if lightning.NormalizeInvoice(w) != s {
			t.Fatalf("NormalizeInvoice(%q) is not the invoice", w)
		}
		inv, err := Decode(w, Regtest)
		if err != nil || inv.Expiry != lightning.MaxInvoiceExpiry {
			t.Errorf("decode %q: %+v, %v", w, inv, err)
		}
		if n, err := NetworkOf(w); err != nil || n != Regtest {
			t.Errorf("NetworkOf(%q) = %s, %v", w, n, err)
		}
	}
	r.Expiry = lightning.MaxInvoiceExpiry + time.Second
	if _, err := Encode(r, testKey(t)); err == nil {
		t.Error("an expiry beyond lightning.MaxInvoiceExpiry was encoded")
	}
}
