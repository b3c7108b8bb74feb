package vasp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// Delivering a payment request to the VASP of the sender it names (UMAD-11):
// GET https://<sender domain>/.well-known/uma-configuration, then POST
// {"invoice": "uma1…"} to its uma_request_endpoint. Both calls go through
// the counterparty HTTP client (its timeout, no redirects, the SSRF rules
// of counterparty-allow-nets) and read at most maxBody.
//
// A delivery is tried once, when the request is made; it is not retried by
// a worker. A failure is recorded on the request (FAILED, with the UMA code
// and why) and answered to the platform, which still holds the request's
// link to show its user and may try again (RedeliverPaymentRequest,
// POST /payment-requests/{id}/deliver): the receiving VASP keeps one
// request per invoice, so a repeat is harmless. A crash between storing
// the request and recording the outcome leaves the delivery PENDING, which
// the platform sees and may try again alike.

// maxDeliveryReason bounds the reason kept for a failed delivery.
const maxDeliveryReason = 300

// DeliveryRequestFailed is the code of a failed delivery whose POST to the
// sender's uma_request_endpoint went unanswered or was answered without an
// UMA error code (vaspd's own word: UMA has none for it). A configuration
// document that cannot be had is UMA's UMA_CONFIGURATION_FETCH_ERROR; an
// UMA error answered by the sender's VASP is its own code.
const DeliveryRequestFailed uma.ErrorCode = "UMA_REQUEST_FAILED"

// deliverPaymentRequest delivers p and records the outcome on it; it never
// fails: the outcome is the answer.
func (s *Service) deliverPaymentRequest(ctx context.Context, p PaymentRequest) PaymentRequestDelivery {
	d := PaymentRequestDelivery{Status: DeliveryDelivered}
	// Not cut short by the platform's request going away: nothing but
	// the platform retries a delivery, and an abandoned call would be
	// recorded as the payer's VASP unreachable (perhaps after it took
	// the request). Each call is bounded by the counterparty client's
	// timeout.
	if err := s.postPaymentRequest(context.WithoutCancel(ctx), p); err != nil {
		e := uma.AsError(err)
		// The code and reason may be the payer's VASP's bytes: kept as
		// text a TEXT column takes (storableText).
		d.Status, d.Code, d.Message = DeliveryFailed, storableText(string(e.Code), 64), storableText(e.Reason, maxDeliveryReason)
		s.log.Warn("payment request not delivered", "paymentRequest", p.ID, "counterparty", logDomain(p.SenderUMA), "code", d.Code, "reason", d.Message)
	}
	s.payments.requestDeliveries.WithLabelValues(deliveryOutcome(d)).Inc()
	now := s.stamp()
	d.AttemptedAt = &now
	// The outcome is recorded even when the platform's request is gone:
	// the delivery was made.
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE payment_requests SET delivery_status = $1, delivery_code = $2,
		delivery_message = $3, delivery_attempted_at = $4 WHERE id = $5`, d.Status, d.Code, d.Message, store.Micros(now), p.ID); err != nil {
		s.log.Error("record a payment request's delivery", "paymentRequest", p.ID, "err", err)
	}
	return d
}

// deliveryOutcome is d's label in vaspd_payment_request_deliveries_total:
// DELIVERED, or the failure's code if UMA defines it (or it is vaspd's
// own, DeliveryRequestFailed). The payer's VASP chooses the code of a
// refusal, so any other is OTHER: no counterparty can grow the series.
func deliveryOutcome(d PaymentRequestDelivery) string {
	switch c := uma.ErrorCode(d.Code); {
	case d.Status == DeliveryDelivered:
		return "DELIVERED"
	case c == DeliveryRequestFailed || c.Known():
		return d.Code
	default:
		return "OTHER"
	}
}

// configurationError is an UMA_CONFIGURATION_FETCH_ERROR.
func configurationError(format string, args ...any) error {
	return uma.Errorf(uma.CodeUMAConfigurationFetchError, format, args...)
}

// postPaymentRequest makes one delivery of p: an *uma.Error says why it failed.
func (s *Service) postPaymentRequest(ctx context.Context, p PaymentRequest) error {
	sender, err := uma.ParseUMAAddress(p.SenderUMA)
	if err != nil {
		return err
	}
	if err := s.opt.Compliance.CounterpartyAllowed(ctx, sender.Domain); err != nil {
		return err
	}
	status, body, err := s.fetch(ctx, http.MethodGet, uma.ConfigurationURL(sender.Domain), nil)
	if err != nil {
		return configurationError("the sender's VASP %s: %s", sender.Domain, s.callFailure(err, status))
	}
	if status != http.StatusOK {
		return configurationError("the sender's VASP %s answered HTTP %d to /.well-known/uma-configuration", sender.Domain, status)
	}
	cfg, err := uma.ParseConfiguration(body)
	if err != nil {
		return configurationError("the sender's VASP %s serves an uma-configuration that does not parse", sender.Domain)
	}
	endpoint := cfg.UmaRequestEndpoint
	if endpoint == "" {
		return configurationError("the sender's VASP %s takes no UMA requests: its uma-configuration has no uma_request_endpoint", sender.Domain)
	}
	if err := checkCounterpartyURL(endpoint); err != nil || len(endpoint) > maxCallbackURL {
		return configurationError("the sender's VASP %s gives an uma_request_endpoint we do not call: %s", sender.Domain,
			vaspd.Truncate(endpoint, 100))
	}
	// The request names our user and their invoice: not to a host our
	// policy refuses, whatever the sender's domain (callbackAllowed).
	if err := s.callbackAllowed(ctx, endpoint); err != nil {
		return uma.Errorf(uma.CodeCounterpartyNotAllowed, "the sender's VASP %s takes UMA requests at another host, which we do not call: %s",
			sender.Domain, uma.AsError(err).Reason)
	}
	req, _ := json.Marshal(uma.UmaRequest{Invoice: p.Invoice})
	status, body, err = s.fetch(ctx, http.MethodPost, endpoint, req)
	if err != nil {
		return uma.Errorf(DeliveryRequestFailed, "the sender's VASP's uma_request_endpoint: %s", s.callFailure(err, status))
	}
	if status == http.StatusOK {
		return nil
	}
	if e, ok := uma.ParseErrorBody(body); ok && e.Code != "" {
		return uma.Errorf(e.Code, "the sender's VASP refused the request (HTTP %d): %s", status, vaspd.Truncate(e.Reason, 200))
	}
	return uma.Errorf(DeliveryRequestFailed, "the sender's VASP's uma_request_endpoint answered HTTP %d", status)
}

// callFailure says why a call to a counterparty failed (err; status if
// it answered), without the URL's internals.
func (s *Service) callFailure(err error, status int) string {
	switch {
	case status != 0 && timedOut(err):
		return fmt.Sprintf("answered HTTP %d but did not send its whole answer within %s (counterparty-timeout)", status, s.opt.CounterpartyTimeout)
	case status != 0:
		return fmt.Sprintf("answered HTTP %d with an unreadable or oversized body", status)
	case errors.Is(err, ssrf.ErrRefused):
		return "it is at a non-public address, which vaspd does not call unless counterparty-allow-nets opens it"
	case timedOut(err):
		return fmt.Sprintf("no answer within %s (counterparty-timeout)", s.opt.CounterpartyTimeout)
	}
	return "could not be reached"
}

// RedeliverPaymentRequest delivers a PENDING payment request that names a
// sender again (after a failed or interrupted delivery) and returns it
// with the outcome, as it is once delivered. One without a sender, or no
// longer payable, is 409.
//
// The request is read, not locked, before the call to the payer's VASP,
// which takes up to counterparty-timeout twice: a row lock held so long
// (SQLite's one writer) would stop every payment. So a cancellation, or
// another delivery, may come meanwhile: the payer's VASP then holds a
// cancelled request, as it would had the cancellation come just after
// (its payreqs are refused: claimPaymentRequest), or is given it twice,
// which it keeps as one (one request per invoice); the outcome last
// recorded stands, a failure at worst prompting one more try. The answer
// is the request read again, so that it says CANCELLED then.
func (s *Service) RedeliverPaymentRequest(ctx context.Context, id string) (PaymentRequest, error) {
	p, err := s.GetPaymentRequest(ctx, id)
	if err != nil {
		return PaymentRequest{}, err
	}
	if p.SenderUMA == "" {
		return PaymentRequest{}, vaspd.Conflict(vaspd.CodePaymentRequestNotPending, "payment request %s names no sender to deliver it to", id)
	}
	if p.Status != PaymentRequestPending {
		return PaymentRequest{}, vaspd.Conflict(vaspd.CodePaymentRequestNotPending, "payment request %s is %s: it is not delivered again", id, p.Status)
	}
	return s.deliverAndRead(ctx, p), nil
}

// deliverAndRead delivers p and answers it read again once delivered, with
// the delivery's outcome: a cancellation or a payment committed during the
// call is in the answer (CANCELLED, PAID). A read that fails answers p as
// it was, with the outcome: the delivery was made, and recorded.
func (s *Service) deliverAndRead(ctx context.Context, p PaymentRequest) PaymentRequest {
	d := s.deliverPaymentRequest(ctx, p)
	if now, err := s.getPaymentRequest(context.WithoutCancel(ctx), s.db, p.ID); err == nil {
		p = now
	} else {
		s.log.Warn("read a payment request after its delivery", "paymentRequest", p.ID, "err", err)
	}
	p.Delivery = d
	return p
}
