package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A sender-locked quote to a plain Lightning Address in SAT whose amount
// buys less than 1 sat (1 MXN centavo is about 520 msats) would show the
// receiver 0 SAT, whole sats rounded down, while paying it an invoice of
// hundreds of msats: it is refused, 400 AMOUNT_OUT_OF_RANGE, before the
// receiver is asked, even by a receiver whose minSendable (msats, LUD-06)
// allows it. From 1 sat up the quote is made, the receiving amount the
// whole sats of the invoice.
func TestLightningAddressSubSatAmount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.edit(func(a *lnaddr) { a.lnurlp["minSendable"] = 1 })
		l := a.lookupPlain(t)
		quote := func(amount int64) (vasp.Quote, error) {
			return a.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "MXN", ReceivingCurrency: "SAT",
				LockedSide: vasp.LockedSending, Amount: amount})
		}
		asked := len(a.asked)
		q, err := quote(1)
		wantStatus(t, err, 400, vaspd.CodeAmountOutOfRange)
		if err == nil {
			t.Fatalf("quote of 1 centavo: %d msats shown as %d SAT", q.Msats, q.ReceivingAmount)
		}
		if len(a.asked) != asked {
			t.Errorf("the receiver was asked for an invoice: %q", a.asked[asked:])
		}
		q, err = quote(2)
		if err != nil {
			t.Fatal(err)
		}
		if q.Msats < 1000 || q.ReceivingAmount != q.Msats/1000 {
			t.Errorf("quote of 2 centavos: %d msats shown as %d SAT", q.Msats, q.ReceivingAmount)
		}
	})
}
