package vasp

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/uma"
)

// Payments that would have our Lightning node pay an invoice it issued
// itself: one of our users paying another, or another VASP answering a
// payreq with one of our node's invoices. The embedded node settles those
// itself; lnd refuses self-payments (lightning.NodeInfo.PaysOwnInvoices),
// so with lnd they are refused when they can first be told, saying why,
// instead of failing at execute with NO_ROUTE.

// payableHere refuses a receiver who is one of our own users when our
// Lightning node cannot pay an invoice it issued itself
// (lightning.NodeInfo.PaysOwnInvoices: lnd refuses self-payments). Such a
// payment was looked up and quoted, the receiving user's platform asked
// to approve it, and then failed at execute (NO_ROUTE), its money given
// back: it is refused here, before anyone is asked, saying why. Moving
// money between two users of one VASP by its books alone, without
// Lightning, is not implemented.
func (s *Service) payableHere(ctx context.Context, addr uma.Address) error {
	if !uma.SameDomain(addr.Domain, s.opt.Domain) {
		return nil
	}
	info, err := s.opt.Node.Info(ctx)
	if err != nil {
		return fmt.Errorf("node info: %w", err)
	}
	if info.PaysOwnInvoices {
		return nil
	}
	return vaspd.Errorf(http.StatusNotImplemented, vaspd.CodeNotImplemented,
		"%s is a user of this VASP, whose Lightning node does not pay its own invoices (lnd refuses self-payments): payments between two users of one vaspd need the embedded node", addr.String()).
		WithDetails(map[string]any{"receiverUmaAddress": addr.String()})
}

// notOwnInvoice refuses a receiver's invoice that our own node issued
// when the node cannot pay its own invoices (payableHere): another VASP
// answering with one of ours (an invoice we issued to it for a payment it
// makes to one of our users, or one of a node it shares with us) would be
// quoted, and its execute fail with NO_ROUTE.
func notOwnInvoice(info lightning.NodeInfo, inv bolt11.Invoice) error {
	if info.PaysOwnInvoices || !strings.EqualFold(inv.Destination, info.PubKey) {
		return nil
	}
	return quoteStep.failed("the receiver's invoice pays our own Lightning node, which does not pay its own invoices")
}
