package vasp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
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

// noSelfPay is the embedded node saying, as lnd does, that it cannot pay
// an invoice it issued. Only the lightning.Node methods show: vasp uses
// it as a node of its own, as it uses lnd. (api's book-transfer tests pay
// between two users of one vaspd with such a node.)
type noSelfPay struct{ lightning.Node }

func (n noSelfPay) Info(ctx context.Context) (lightning.NodeInfo, error) {
	info, err := n.Node.Info(ctx)
	info.PaysOwnInvoices = false
	return info, err
}

// With a node that cannot pay its own invoices, another VASP answering our
// payreq with an invoice of our own node that no payment of ours waits
// for is refused at the quote (424 PAYREQ_REQUEST_FAILED, nothing
// recorded), not quoted to fail at execute with NO_ROUTE: the books pay
// our own node's invoices only into the payment they were issued for. The
// embedded node pays it (the hostile receivers of these tests answer with
// its invoices).
func TestQuoteOfOurOwnNodesInvoiceWhenNodeCannotPayItself(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		other := hostileIn(t, w)
		for _, tc := range []struct {
			name   string
			node   lightning.Node
			refuse bool
		}{
			{"node that cannot pay itself", noSelfPay{w.node}, true},
			{"embedded node", w.node, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := w.service(t, func(o *vasp.Options) { o.Node, o.Clock = tc.node, vaspd.SystemClock{} })
				l, err := s.LookupReceiver(t.Context(), w.alice.UserID, "$bob@"+other.domain)
				if err != nil {
					t.Fatal(err)
				}
				before := countRows(t, db, "uma_quotes")
				_, err = s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD",
					ReceivingCurrency: "EUR", LockedSide: vasp.LockedReceiving, Amount: 900})
				if !tc.refuse {
					if err != nil {
						t.Fatalf("quote: %v", err)
					}
					return
				}
				e := vaspd.AsError(err)
				if err == nil || e.Code != vaspd.CodePayreqRequestFailed || !strings.Contains(e.Message, "our own Lightning node") {
					t.Fatalf("quote answered with our own node's invoice: %v; want %s naming our own node", err, vaspd.CodePayreqRequestFailed)
				}
				if n := countRows(t, db, "uma_quotes"); n != before {
					t.Fatalf("refused quote recorded: %d quotes, were %d", n, before)
				}
			})
		}
	})
}

// So is a plain Lightning Address service answering with one of our own
// node's invoices.
func TestPlainQuoteOfOurOwnNodesInvoiceWhenNodeCannotPayItself(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, func(o *vasp.Options) { o.Node = noSelfPay{o.Node.(*embedded.Node)} })
		_, err := a.quotePlain(t, a.lookupPlain(t), vasp.LockedReceiving, 1000)
		e := vaspd.AsError(err)
		if err == nil || e.Code != vaspd.CodePayreqRequestFailed || !strings.Contains(e.Message, "our own Lightning node") {
			t.Fatalf("plain quote answered with our own node's invoice: %v; want %s naming our own node", err, vaspd.CodePayreqRequestFailed)
		}
		if n := countRows(t, db, "uma_quotes"); n != 0 {
			t.Fatalf("refused quote recorded: %d quotes", n)
		}
	})
}
