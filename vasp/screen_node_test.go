package vasp_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// The node screened before an UMA quote is the node its invoice pays, as
// the invoice names it: a receiver that leaves payeeData.compliance.
// nodePubKey out, or writes it in upper case, must not have its node
// pass a screening that would refuse it.
func TestQuoteScreensTheInvoiceNode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		policy := &screenNode{refused: h.nodeKey}
		s := h.w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{}; o.Compliance = policy })
		l, err := s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{h.nodeKey, strings.ToUpper(h.nodeKey), ""} {
			policy.asked = nil
			h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.PayeeData.Compliance.NodePubKey = key })
			_, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
				LockedSide: vasp.LockedSending, Amount: 1000})
			if e := vaspd.AsError(err); err == nil || e.Status != 403 || e.Code != vaspd.CodeCounterpartyNotAllowed {
				t.Fatalf("nodePubKey %q: got %v (screened %q), want 403 %s", key, err, policy.asked, vaspd.CodeCounterpartyNotAllowed)
			}
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d quotes (%v), want none", n, err)
		}
	})
}
