package vasp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
)

// Retrying a failed payment (UMAaaS POST /quotes/{id}/retry). A payment
// whose Lightning payment failed was given back to the user when it failed
// (finish releases the reservation: vaspd has no REFUNDED state, a FAILED
// payment is refunded already), so a retry is a new quote for the same
// request — the same sending user, locked side, amount, currencies,
// description and UMA request — sent as a fresh payreq over a new lookup of
// the same receiver, and executing it debits the user again.
//
// Every retry names the first quote of the payment (OriginalQuoteID), also
// when it retries a retry, so one id groups all the attempts; a refreshed
// retry keeps it. Any FAILED quote of the payment may be retried, as many
// times as asked, and several retries may be open at once, but the payment
// is paid at most once: a retry is refused once one of the payment's
// quotes is executed and not FAILED, and ExecuteQuote refuses (409
// QUOTE_ALREADY_EXECUTED) a retry while another quote of its payment is PROCESSING or
// COMPLETED, checked under a lock on the first quote's row (see payment).

// RetryQuote makes a new quote that retries the FAILED payment of quote id
// through lookup lookupID, which must be of the same receiver and made for
// the same user. senderUserInfo answers the new lookup's
// requiredPayerDataFields as in CreateQuote; the payer data of the failed
// quote is not reused (UMAaaS asks for it again). A missing mandatory field
// is 422 MISSING_MANDATORY_USER_INFO here (the retry operation's status;
// POST /quotes answers the same error with 400).
func (s *Service) RetryQuote(ctx context.Context, id, lookupID string, senderUserInfo map[string]any) (Quote, error) {
	q, err := s.GetQuote(ctx, id)
	if err != nil {
		return Quote{}, err
	}
	switch q.Status {
	case QuoteFailed:
	case QuotePending, QuoteExpired:
		return Quote{}, vaspd.Conflict(vaspd.CodeConflict,
			"quote %s was never executed: only a FAILED payment can be retried (execute the quote, or refresh it once expired)", id)
	default: // PROCESSING, COMPLETED
		return Quote{}, vaspd.Conflict(vaspd.CodeQuoteAlreadyExecuted,
			"quote %s was executed and its payment is %s: only a FAILED payment can be retried", id, q.Status)
	}
	l, err := s.getLookup(ctx, lookupID, "")
	if err != nil {
		return Quote{}, err
	}
	if l.UserID != q.UserID {
		return Quote{}, vaspd.InvalidInput("lookup %s was made for another sending user than quote %s: retry with a lookup for the quote's sender", l.ID, id)
	}
	if !strings.EqualFold(l.Receiver, q.Receiver) {
		return Quote{}, vaspd.InvalidInput("lookup %s is of %s, quote %s paid %s: retry with a lookup of the same receiver",
			l.ID, l.Receiver, id, q.Receiver)
	}
	first := q.ID
	if q.OriginalQuoteID != "" {
		first = q.OriginalQuoteID
	}
	// CreateQuote refuses it (409) once another quote of the payment paid
	// it, or is paying it (quoteTerms), before any payreq.
	req := q.Request
	req.LookupID, req.UserID, req.SenderUserInfo, req.OriginalQuoteID = l.ID, q.UserID, senderUserInfo, first
	nq, err := s.CreateQuote(ctx, req)
	var e *vaspd.Error
	if errors.As(err, &e) && e.Code == vaspd.CodeMissingMandatoryUserInfo {
		c := *e
		c.Status = http.StatusUnprocessableEntity
		return Quote{}, &c
	}
	return nq, err
}
