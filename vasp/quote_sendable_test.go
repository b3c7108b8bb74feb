package vasp_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// TestQuoteInvoiceOutsideSendable: a receiver-locked quote's invoice is
// the receiver's conversion of the amount asked; one above the maxSendable
// (msats) its lookup advertised was quoted, though the lookup said it
// takes no such payment: 400 AMOUNT_OUT_OF_RANGE, as a sender-locked
// amount outside it is.
func TestQuoteInvoiceOutsideSendable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.lnurlp = func(r *uma.LnurlpResponse) { r.MinSendable, r.MaxSendable = 1000, 50_000 }
		h.fund(t, 1_000_000)
		l := h.lookup(t)
		_, err := h.quote(t, l, vasp.LockedReceiving, 100) // 100 cents: 100,000 msats
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
		if _, err := h.quote(t, l, vasp.LockedReceiving, 50); err != nil {
			t.Fatalf("50 cents, 50,000 msats: %v", err)
		}
	})
}
