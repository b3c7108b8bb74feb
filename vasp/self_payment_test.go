package vasp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A user cannot pay their own address: the lookup is refused 400
// SELF_PAYMENT (UMAaaS's code for it) however the address is written, as an
// UMA address or, with plain Lightning Addresses on, as one. It was looked
// up over HTTP and paid, the user losing the spread and fees to themselves.
// Another of our users is not refused for it.
func TestLookupOfOwnAddressIsSelfPayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.PayLightningAddresses = true })
		for _, receiver := range []string{"$alice@" + ourDomain, "$ALICE@" + strings.ToUpper(ourDomain), "alice@" + ourDomain} {
			_, err := s.LookupReceiver(t.Context(), w.alice.UserID, receiver)
			if e := vaspd.AsError(err); err == nil || e.Status != http.StatusBadRequest || e.Code != vaspd.CodeSelfPayment {
				t.Errorf("lookup of %s by alice: %v, want 400 %s", receiver, err, vaspd.CodeSelfPayment)
			}
		}
		_, err := s.LookupReceiver(t.Context(), w.bob.UserID, "$alice@"+ourDomain)
		if vaspd.AsError(err).Code == vaspd.CodeSelfPayment {
			t.Errorf("lookup of alice by bob refused as a self-payment: %v", err)
		}
	})
}
