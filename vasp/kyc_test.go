package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// TestKYCStatusAsKept: a lnurlp answer tells the sender the receiver's KYC
// status as the platform set it. PENDING and UNKNOWN are not NOT_VERIFIED:
// "not verified" is a statement about the user a VASP must not make for
// one it has not finished (or started) checking. A user with none set is
// UNKNOWN.
func TestKYCStatusAsKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		kept := map[string]uma.KycStatus{"unknown": uma.KycUnknown, "not-verified": uma.KycNotVerified,
			"pending": uma.KycPending, "verified": uma.KycVerified, "unset": ""}
		for local, k := range kept {
			r := vasp.Recipient{UserID: vaspd.NewID(vaspd.IDUser), Local: local, Currencies: []string{"EUR"}, KYCStatus: k}
			w.users[r.UserID] = r
		}
		s := w.service(t, nil)
		for local, want := range map[string]uma.KycStatus{"unknown": uma.KycUnknown, "not-verified": uma.KycNotVerified,
			"pending": uma.KycPending, "verified": uma.KycVerified, "unset": uma.KycUnknown} {
			resp, err := s.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, local, "vasp1.example", w.clock.Now()), local)
			if err != nil {
				t.Fatalf("%s: %v", local, err)
			}
			if resp.Compliance == nil || resp.Compliance.KycStatus != want {
				t.Errorf("%s: kycStatus %v, want %s", local, resp.Compliance, want)
			}
		}
	})
}
