package lightning_test

import (
	"testing"

	"github.com/vaspd/vaspd/lightning"
)

// NormalizeInvoice is the one way vaspd reads a payment request however it
// is written (bolt11 decodes what it returns; SameInvoice compares it):
// surrounding space, upper case (bech32 in QR codes) and a "lightning:" URI
// scheme aside.
func TestNormalizeInvoice(t *testing.T) {
	const want = "lnbcrt10n1abc"
	for _, s := range []string{want, "LNBCRT10N1ABC", " lightning:lnbcrt10n1abc\n", "LIGHTNING:LNBCRT10N1ABC", "\tLightning:lnbcrt10n1ABC "} {
		if got := lightning.NormalizeInvoice(s); got != want {
			t.Errorf("NormalizeInvoice(%q) = %q, want %q", s, got, want)
		}
		if !lightning.SameInvoice(s, want) {
			t.Errorf("SameInvoice(%q, %q) = false", s, want)
		}
	}
	// Only one scheme is dropped, and only as a prefix.
	for _, s := range []string{"lightning:lightning:lnbcrt1", "lnbcrt1lightning:", " lightning: lnbcrt1"} {
		if got := lightning.NormalizeInvoice(s); got == "lnbcrt1" {
			t.Errorf("NormalizeInvoice(%q) = %q", s, got)
		}
	}
	if lightning.SameInvoice("lnbcrt10n1abc", "lnbcrt10n1abd") {
		t.Error("different invoices are the same")
	}
}
