package vasp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// otherSpellings are addresses' domains that name ourDomain as it does:
// a trailing dot (which UMA's domain rule accepts), https's default port,
// both (case is folded by uma.ParseAddress).
var otherSpellings = []string{ourDomain + ".", ourDomain + ":443", ourDomain + ".:443"}

// TestOtherSpellingsOfOurDomainAreOurs: every "is this address ours?" of
// the payment flows compares domains in their normal form
// (uma.NormalizeDomain), so another spelling of our domain is ours: a
// payment request may not ask one of our users to pay; an UMA request
// whose receiver is ours is refused, one whose sender is one of our users
// is theirs; a lookup's senderUmaAddress finds the user.
func TestOtherSpellingsOfOurDomainAreOurs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for _, d := range otherSpellings {
			_, err := s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "EUR",
				SenderUMA: "$alice@" + d})
			if e := vaspd.AsError(err); err == nil || e.Status != 400 || e.Code != vaspd.CodeInvalidInput {
				t.Errorf("payment request asking $alice@%s, one of ours, to pay: %v; want 400 INVALID_INPUT", d, err)
			}

			if id, err := s.UserIDByAddress(t.Context(), "$bob@"+d); err != nil || id != w.bob.UserID {
				t.Errorf("senderUmaAddress $bob@%s: %q, %v; want bob %s", d, id, err, w.bob.UserID)
			}

			inv := &uma.Invoice{
				ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: vaspd.NewID(vaspd.IDUser)[5:], Amount: 1250,
				ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
				Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
				UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + d,
				Callback: "https://vasp1.example/api/uma/payreq/carol",
			}
			r, err := s.ReceiveUmaRequest(t.Context(), umaRequestBody(t, carols.Signing, inv))
			if err != nil || r.UserID != w.alice.UserID {
				t.Errorf("UMA request asking $alice@%s: kept for %q (%v); want alice %s", d, r.UserID, err, w.alice.UserID)
			}

			// An invoice whose receiver is on our domain, however spelt,
			// is not a request from another VASP (whose keys, fetched
			// from that spelling, are here another's).
			mallory := w.counterparty(t, d)
			inv.ReceiverUMA, inv.SenderUMA, inv.InvoiceUUID = "$mallory@"+d, "$bob@"+ourDomain, vaspd.NewID(vaspd.IDUser)[5:]
			r, err = s.ReceiveUmaRequest(t.Context(), umaRequestBody(t, mallory.Signing, inv))
			var ue *uma.Error
			if !errors.As(err, &ue) || ue.Code != uma.CodeInvalidInvoice {
				t.Errorf("UMA request from $mallory@%s, on our domain: kept as %q (%v); want INVALID_INVOICE", d, r.ID, err)
			}
		}
	})
}
