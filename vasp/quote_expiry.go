package vasp

import "time"

// DefaultQuoteExpiryMargin is Options.QuoteExpiryMargin's default: an
// execute in a quote's last second is then still half a minute before
// the invoice expires, time for the payment to find a route and reach the
// receiver's node (which refuses an HTLC for an expired invoice), as lnd's
// payments mostly take seconds; and, the quote refreshed QuoteRefreshLead
// before its expiry, a refresh still comes a minute before the invoice.
const DefaultQuoteExpiryMargin = 30 * time.Second

// marginShare bounds a quote's margin to this fraction of the life its
// invoice has left: of an invoice of a few seconds (allowed, if unusual)
// the quote keeps three quarters, rather than nothing.
const marginShare = 4

// quoteExpiry is when a quote priced at now on an invoice expiring at
// invoice expires: QuoteExpiryMargin before the invoice, or a quarter of
// the invoice's life left before it if that is less (in microseconds, as
// stored: not later). The quote expired with its invoice: an execute in
// its last second started a payment that failed at the receiver's node,
// where 409 QUOTE_EXPIRED (and a refresh) was due. The quote of a plain
// Lightning Address (lnaddr.go) has the same margin.
func (s *Service) quoteExpiry(now, invoice time.Time) time.Time {
	return invoice.Add(-max(min(s.opt.QuoteExpiryMargin, invoice.Sub(now)/marginShare), 0)).Truncate(time.Microsecond)
}
