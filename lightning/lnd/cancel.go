package lnd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd/internal/rest"
)

// CancelInvoice cancels the open invoice with paymentHash
// (lightning.InvoiceCanceler) through lnd's invoices sub-server,
// POST /v2/invoices/cancel, with the macaroon's invoices:write. lnd
// cancels a canceled invoice again without error.
//
// The sub-server exists only in an lnd built with the invoicesrpc tag,
// as lnd's release binaries are; without it the REST gateway has no such
// route and answers 404 Not Found, which is told as errors.ErrUnsupported.
// lnd's own refusals come as gRPC Unknown errors whose message says why:
// "unable to locate invoice" (ErrNotFound) and "invoice already settled"
// (ErrAlreadyPaid); they are read before the 404, so that an lnd that
// some day answers an unknown invoice with a NotFound status is still
// read right.
func (n *Node) CancelInvoice(ctx context.Context, paymentHash lightning.Hash) (err error) {
	defer n.safe(&err)
	body := map[string]any{"payment_hash": base64.StdEncoding.EncodeToString(paymentHash[:])}
	err = n.rest.Do(ctx, http.MethodPost, "/v2/invoices/cancel", body, nil)
	if err == nil {
		return nil
	}
	var le *rest.Error
	if errors.As(err, &le) {
		m := strings.ToLower(le.Message)
		switch {
		case strings.Contains(m, "unable to locate invoice"):
			return fmt.Errorf("lnd invoice %s: %w", paymentHash, lightning.ErrNotFound)
		case strings.Contains(m, "invoice already settled"):
			return fmt.Errorf("lnd invoice %s: %w", paymentHash, lightning.ErrAlreadyPaid)
		case le.HTTPStatus == http.StatusNotFound || le.HTTPStatus == http.StatusNotImplemented:
			return fmt.Errorf("lnd cancelinvoice: %w: lnd has no invoices sub-server (build it with the invoicesrpc tag): %w",
				errors.ErrUnsupported, err)
		}
	}
	return n.wrap("cancelinvoice", err)
}

// cancelRefused cancels an invoice lnd issued that CreateInvoice refuses
// (not the one asked for): handed out to no one, it is still payable by
// whoever learns it, for a payment nothing waits for. Best effort: an lnd
// that cannot cancel it leaves it open until it expires, and is logged.
func (n *Node) cancelRefused(ctx context.Context, hash lightning.Hash) {
	if err := n.CancelInvoice(ctx, hash); err != nil {
		n.log.Warn("lnd: cancel an invoice lnd issued other than asked; it stays open until it expires",
			"payment_hash", hash.String(), "err", err)
	}
}
