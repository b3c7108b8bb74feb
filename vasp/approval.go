package vasp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/jsonkeys"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/webhook"
)

// Approval of incoming payments. The platform is asked synchronously with
// an INCOMING_PAYMENT webhook in status PENDING (UMAaaS's wording; the row
// is CREATED until approved):
//
//	200 approves; its receiverUserInfo fills the payee data we return,
//	202 defers: POST /transactions/{id}/approve or /reject must come before
//	    the deadline (the decision is stored, so any vaspd process may take it),
//	403 rejects, 422 asks the sender for more payer data,
//	anything else, or no answer by the deadline, rejects.
//
// A platform with no webhook endpoint configured has nobody to ask, and its
// payments are approved (logged); configure an endpoint to decide. A
// platform whose endpoint is disabled (by it, or by a 410 from its
// receiver) did configure one: its payments are rejected
// (PAYMENT_APPROVAL_WEBHOOK_ERROR), not approved unasked.
//
// Every rejection of a payment the platform was asked about (or may have
// been) enqueues its INCOMING_PAYMENT REJECTED webhook with the rejection,
// its own refusals included: a platform holding the PENDING ask closes it
// from webhooks alone, whether its answer counted or came too late. A
// payment rejected unasked is no news to a platform that never saw it.

// The failure reasons of a payment rejected for want of the platform's
// approval: no decision by the deadline (also a 200 too late), or the
// webhook failed (its endpoint disabled, an error answer).
const (
	reasonApprovalTimedOut     = "PAYMENT_APPROVAL_TIMED_OUT"
	reasonApprovalWebhookError = "PAYMENT_APPROVAL_WEBHOOK_ERROR"
)

// approvalResult is what an approval decided about the payee data.
type approvalResult struct {
	name  string
	extra map[string]json.RawMessage
}

// Stored decisions (uma_transactions.approval).
type decision struct {
	Decision         string         `json:"decision"` // APPROVED or REJECTED
	Reason           string         `json:"reason,omitempty"`
	ReceiverUserInfo map[string]any `json:"receiverUserInfo,omitempty"`
}

func (s *Service) approve(ctx context.Context, t Transaction, req *uma.PayRequest) (approvalResult, error) {
	deadline := s.opt.ApprovalTimeout
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	// Stored CREATED, asked as UMAaaS's PENDING: with the
	// reconciliationInstructions every status but CREATED carries.
	w := s.incomingWebhook(ctx, t)
	w.Transaction.Status = webhook.StatusPending
	w.Transaction.ReconciliationInstructions = &webhook.ReconciliationInstructions{Reference: t.ID}
	// What the platform may give, mandatory where its approval must: the
	// identifier is ours to send (the user's UMA address; a platform's is
	// ignored), and the name of a user who has one is sent unless the
	// platform replaces it (requiredReceiverUserInfo).
	for key := range req.PayeeData {
		if name, ok := PayerFieldNames[key]; ok && name != webhook.FieldIdentifier {
			w.RequestedReceiverUserInfoFields = append(w.RequestedReceiverUserInfoFields,
				webhook.CounterpartyFieldDefinition{Name: name, Mandatory: slices.Contains(t.Details.RequiredReceiverUserInfo, name)})
		}
	}
	slices.SortFunc(w.RequestedReceiverUserInfoFields, func(a, b webhook.CounterpartyFieldDefinition) int {
		return strings.Compare(a.Name, b.Name)
	})
	resp, err := s.opt.Webhooks.Send(ctx, delivery.Event{Type: string(webhook.TypeIncomingPayment), Time: t.CreatedAt, Data: w},
		delivery.SendOptions{Timeout: deadline})
	switch {
	case errors.Is(err, delivery.ErrNoEndpoint):
		s.log.Info("incoming payment approved: no webhook endpoint is configured to ask", "transaction", t.ID)
		return s.approved(ctx, t.ID, nil)
	case errors.Is(err, delivery.ErrEndpointDisabled):
		// The platform chose to be asked, and cannot be: rejecting costs the
		// sender a retry, approving would move money nobody screened.
		// Nothing was sent: the platform never heard of the payment, so
		// it hears of no end either (asked false), here and below.
		return s.reject(ctx, t.ID, reasonApprovalWebhookError, false, uma.Errorf(uma.CodeSenderNotAccepted, "the receiver could not approve the payment"), err)
	case err != nil:
		return s.reject(ctx, t.ID, reasonApprovalWebhookError, false, uma.Errorf(uma.CodeInternalError, "the receiver could not approve the payment"), err)
	case resp.Err != nil || resp.Status == 0:
		if ctx.Err() != nil || errors.Is(resp.Err, context.DeadlineExceeded) {
			return s.reject(ctx, t.ID, reasonApprovalTimedOut, true, uma.Errorf(uma.CodeSenderNotAccepted, "the receiver did not approve the payment in time"), resp.Err)
		}
		// The request went out: it may have reached the platform (a
		// timeout, a reset) and be recorded there.
		return s.reject(ctx, t.ID, reasonApprovalWebhookError, true, uma.Errorf(uma.CodeSenderNotAccepted, "the receiver could not approve the payment"), resp.Err)
	}
	switch {
	case resp.Status == http.StatusAccepted:
		return s.awaitDecision(ctx, t.ID)
	case resp.Status >= 200 && resp.Status < 300:
		var body webhook.IncomingPaymentWebhookResponse
		if len(resp.Body) > 0 && json.Unmarshal(resp.Body, &body) == nil {
			// An empty or non-JSON 200 approves with no info; a JSON one
			// naming a field twice (receiverUserInfo, or an EMAIL in it) is
			// the platform's approval with two answers for the payee data,
			// of which encoding/json keeps the last and the platform may
			// have meant the first: refused, as the platform's API refuses
			// such a request, rather than one of them sent to the sender.
			if key, dup := jsonkeys.Duplicate(resp.Body); dup {
				return s.reject(ctx, t.ID, reasonApprovalWebhookError, true, uma.Errorf(uma.CodeSenderNotAccepted,
					"the receiver could not approve the payment"), fmt.Errorf("the approval webhook's 200 names %q twice", vaspd.Truncate(key, 64)))
			}
		}
		if missing := missingReceiverUserInfo(t.Details.RequiredReceiverUserInfo, body.ReceiverUserInfo); len(missing) > 0 {
			// Approving would hand the sender an answer without payee
			// data it asked as mandatory, which it must refuse after
			// we issued the invoice.
			return s.reject(ctx, t.ID, webhook.IncomingFailureMissingMandatoryPayeeData, true,
				uma.Errorf(uma.CodeMissingMandatoryPayeeData, "the receiver did not provide mandatory payee data: %s", payeeDataKeys(missing)),
				fmt.Errorf("the approval webhook's 200 lacks receiverUserInfo %s, which the sender asked as mandatory", strings.Join(missing, ", ")))
		}
		return s.approved(ctx, t.ID, body.ReceiverUserInfo)
	case resp.Status == http.StatusForbidden:
		var body webhook.IncomingPaymentWebhookForbiddenResponse
		_ = json.Unmarshal(resp.Body, &body)
		msg := "the receiver's platform rejected the payment"
		if body.Reason != "" {
			msg += ": " + vaspd.Truncate(body.Reason, 200)
		}
		return s.reject(ctx, t.ID, "REJECTED_BY_PLATFORM", true, uma.Errorf(uma.CodeSenderNotAccepted, "%s", msg), nil)
	case resp.Status == http.StatusUnprocessableEntity:
		var body webhook.IncomingPaymentWebhookUnprocessableResponse
		_ = json.Unmarshal(resp.Body, &body)
		fields := make([]string, 0, len(body.RequiredFields))
		for _, f := range body.RequiredFields {
			fields = append(fields, vaspd.Truncate(f, 64))
		}
		return s.reject(ctx, t.ID, "ADDITIONAL_INFO_REQUIRED", true, uma.Errorf(uma.CodeMissingMandatoryPayerData,
			"the receiver needs more payer data: %s", strings.Join(fields, ", ")), nil)
	default:
		return s.reject(ctx, t.ID, reasonApprovalWebhookError, true, uma.Errorf(uma.CodeSenderNotAccepted,
			"the receiver could not approve the payment"), fmt.Errorf("approval webhook answered HTTP %d", resp.Status))
	}
}

// requiredReceiverUserInfo is what the platform's approval of a payment to
// r must give in receiverUserInfo: the payee data asked as mandatory,
// less what vaspd fills itself (the identifier, r's UMA address; the name
// when r has one). Keys no field stands for were refused before
// (UNRECOGNIZED_MANDATORY_PAYEE_DATA_KEY) or are compliance, ours.
func requiredReceiverUserInfo(r Recipient, asked uma.CounterpartyDataOptions) []string {
	var out []string
	for key, opt := range asked {
		name, known := PayerFieldNames[key]
		if !opt.Mandatory || !known || name == webhook.FieldIdentifier || name == webhook.FieldFullName && r.Name != "" {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// payeeDataKeys names receiverUserInfo fields as the sender asked them:
// payee data keys (LUD-22), comma-separated.
func payeeDataKeys(fields []string) string {
	keys := make([]string, 0, len(fields))
	for _, f := range fields {
		for key, name := range PayerFieldNames {
			if name == f {
				keys = append(keys, key)
			}
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// missingReceiverUserInfo lists the fields of required that info lacks
// (absent, null or blank).
func missingReceiverUserInfo(required []string, info map[string]any) []string {
	var out []string
	for _, f := range required {
		v, ok := info[f]
		if s, isString := v.(string); !ok || v == nil || isString && strings.TrimSpace(s) == "" {
			out = append(out, f)
		}
	}
	return out
}

// The first decision recorded wins: a platform that answered
// POST /transactions/{id}/approve or /reject while its webhook reply was on
// the way, or just as the deadline passed, was told its decision was taken.
// approved and reject therefore only write an empty decision, and otherwise
// apply the one already stored.

func (s *Service) approved(ctx context.Context, id string, info map[string]any) (approvalResult, error) {
	d, _ := json.Marshal(decision{Decision: "APPROVED", ReceiverUserInfo: info})
	res, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE uma_transactions SET approval = $1, updated_at = $2
		WHERE id = $3 AND approval = ''`, string(d), store.Micros(s.clock.Now()), id)
	if err != nil {
		return approvalResult{}, fmt.Errorf("record approval: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.storedDecision(ctx, id)
	}
	return resultFromInfo(info), nil
}

// storedDecision applies the decision recorded first for id.
func (s *Service) storedDecision(ctx context.Context, id string) (approvalResult, error) {
	ctx = context.WithoutCancel(ctx)
	var raw string
	if err := s.db.QueryRowContext(ctx, `SELECT approval FROM uma_transactions WHERE id = $1`, id).Scan(&raw); err != nil {
		return approvalResult{}, fmt.Errorf("read approval: %w", err)
	}
	var d decision
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return approvalResult{}, fmt.Errorf("read approval: %w", err)
	}
	if d.Decision == "APPROVED" {
		return resultFromInfo(d.ReceiverUserInfo), nil
	}
	if _, err := s.endIncoming(ctx, true, `UPDATE uma_transactions SET status = $1, failure_reason = $2, updated_at = $3
		WHERE id = $4 AND status = $5`, StatusRejected, "REJECTED_BY_PLATFORM", store.Micros(s.clock.Now()), id, StatusCreated); err != nil {
		return approvalResult{}, fmt.Errorf("record rejection: %w", err)
	}
	return approvalResult{}, uma.Errorf(uma.CodeSenderNotAccepted, "the receiver's platform rejected the payment")
}

func resultFromInfo(info map[string]any) approvalResult {
	var r approvalResult
	for field, v := range info {
		if field == webhook.FieldFullName {
			r.name, _ = v.(string)
			continue
		}
		for key, name := range PayerFieldNames {
			if name == field && key != "name" && key != "identifier" {
				if b, err := json.Marshal(v); err == nil {
					if r.extra == nil {
						r.extra = map[string]json.RawMessage{}
					}
					r.extra[key] = b
				}
			}
		}
	}
	return r
}

// reject records the rejection and returns umaErr for the sender; cause
// is logged, never sent. asked is whether the approval webhook was sent
// (or may have been): only then does the platform know of the payment and
// get its REJECTED webhook, with the rejection.
func (s *Service) reject(ctx context.Context, id, reason string, asked bool, umaErr *uma.Error, cause error) (approvalResult, error) {
	if cause != nil {
		s.log.Warn("incoming payment rejected", "transaction", id, "reason", reason, "err", cause)
	}
	d, _ := json.Marshal(decision{Decision: "REJECTED", Reason: reason})
	ended, err := s.endIncoming(context.WithoutCancel(ctx), asked, `UPDATE uma_transactions SET status = $1, failure_reason = $2, approval = $3, updated_at = $4
		WHERE id = $5 AND status = $6 AND approval = ''`, StatusRejected, reason, string(d), store.Micros(s.clock.Now()), id, StatusCreated)
	if err != nil {
		return approvalResult{}, fmt.Errorf("record rejection: %w", err)
	}
	if !ended {
		return s.storedDecision(ctx, id)
	}
	return approvalResult{}, umaErr
}

// awaitDecision polls for the platform's POST /transactions/{id}/approve
// or /reject until ctx's deadline.
func (s *Service) awaitDecision(ctx context.Context, id string) (approvalResult, error) {
	for {
		var raw string
		err := s.db.QueryRowContext(ctx, `SELECT approval FROM uma_transactions WHERE id = $1`, id).Scan(&raw)
		if err == nil && raw != "" {
			return s.storedDecision(ctx, id)
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return approvalResult{}, fmt.Errorf("read approval: %w", err)
		}
		if !vaspd.Sleep(ctx, 50*time.Millisecond) {
			return s.reject(ctx, id, reasonApprovalTimedOut, true, uma.Errorf(uma.CodeSenderNotAccepted, "the receiver did not approve the payment in time"), nil)
		}
	}
}

// Decide records the platform's answer to a deferred (202) approval:
// POST /transactions/{id}/approve (approve = true, with receiverUserInfo)
// or /reject. Only an incoming payment still waiting, and still within its
// approval deadline, can be decided. An approval lacking receiverUserInfo
// the sender asked as mandatory is refused (400
// MISSING_MANDATORY_USER_INFO) and records nothing: the platform may
// approve again with it before the deadline.
func (s *Service) Decide(ctx context.Context, id string, approve bool, info map[string]any, reason string) (Transaction, error) {
	if approve {
		t, err := s.GetTransaction(ctx, id)
		if err != nil {
			return t, err
		}
		if t.Direction == Incoming && t.Status == StatusCreated {
			if missing := missingReceiverUserInfo(t.Details.RequiredReceiverUserInfo, info); len(missing) > 0 {
				return t, (&vaspd.Error{Status: http.StatusBadRequest, Code: vaspd.CodeMissingMandatoryUserInfo,
					Message: fmt.Sprintf("receiverUserInfo lacks %s, which the sender asked as mandatory", strings.Join(missing, ", "))}).
					WithDetails(map[string]any{"requiredFields": missing})
			}
		}
	}
	d := decision{Decision: "REJECTED", Reason: reason}
	if approve {
		d = decision{Decision: "APPROVED", ReceiverUserInfo: info}
	}
	raw, _ := json.Marshal(d)
	now := s.clock.Now()
	res, err := s.db.ExecContext(ctx, `UPDATE uma_transactions SET approval = $1, updated_at = $2
		WHERE id = $3 AND direction = $4 AND status = $5 AND approval = '' AND created_at >= $6`,
		string(raw), store.Micros(now), id, Incoming, StatusCreated, store.Micros(now.Add(-s.opt.ApprovalTimeout)))
	if err != nil {
		return Transaction{}, fmt.Errorf("record decision: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t, err := s.GetTransaction(ctx, id)
		if err != nil {
			return t, err
		}
		if t.Direction == Incoming && t.Status == StatusCreated {
			return t, vaspd.Conflict(vaspd.CodeTransactionNotPending, "transaction %s is no longer waiting for approval: its deadline passed or it was decided", id)
		}
		return t, vaspd.Conflict(vaspd.CodeTransactionNotPending, "transaction %s is %s and not waiting for approval", id, t.Status)
	}
	return s.GetTransaction(ctx, id)
}

// sweepCreated ends the incoming payments left CREATED well after their
// approval deadline: the process asking the platform stopped (crash,
// restart), or the sender hung up after the approval so the invoice was
// never issued. No invoice was handed out, so no money can move; each
// ends REJECTED, as the live flow would have ended it: unanswered, as timed
// out (the decision is recorded, so a late approval is refused); refused
// by the platform, as such; approved but without an invoice, as
// PAY_REQUEST_FAILED. Like the live rejections, each sends its REJECTED
// webhook with the rejection: the platform was asked, or may have been
// (a process that stopped while asking leaves no trace of whether it sent).
func (s *Service) sweepCreated(ctx context.Context) {
	now := s.clock.Now()
	cutoff := store.Micros(now.Add(-s.opt.ApprovalTimeout - time.Minute))
	rows, err := s.db.QueryContext(ctx, `SELECT id, approval FROM uma_transactions
		WHERE status = $1 AND direction = $2 AND created_at < $3 ORDER BY id LIMIT 200`, StatusCreated, Incoming, cutoff)
	if err != nil {
		s.log.Warn("sweep payments awaiting approval", "err", err)
		return
	}
	type row struct{ id, approval string }
	var stale []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.approval); err != nil {
			s.log.Warn("sweep payments awaiting approval: read row", "err", err)
			continue
		}
		stale = append(stale, r)
	}
	// A read that broke off leaves the rest for the next sweep; the rows
	// read are ended all the same (each update below re-checks its row).
	if err := rows.Err(); err != nil {
		s.log.Warn("sweep payments awaiting approval: read", "err", err)
	}
	rows.Close()
	for _, r := range stale {
		s.endCreated(ctx, r.id, r.approval)
	}
}

// endCreated ends the incoming payment id left CREATED past its deadline
// with the decision the sweep read (approval), unless it moved meanwhile.
func (s *Service) endCreated(ctx context.Context, id, approval string) {
	reason, final := "PAY_REQUEST_FAILED", approval
	var d decision
	switch {
	case approval == "":
		b, _ := json.Marshal(decision{Decision: "REJECTED", Reason: reasonApprovalTimedOut})
		reason, final = reasonApprovalTimedOut, string(b)
	case json.Unmarshal([]byte(approval), &d) == nil && d.Decision == "REJECTED":
		reason = "REJECTED_BY_PLATFORM"
	}
	ended, err := s.endIncoming(ctx, true, `UPDATE uma_transactions SET status = $1, failure_reason = $2, approval = $3, updated_at = $4
		WHERE id = $5 AND status = $6 AND approval = $7`,
		StatusRejected, reason, final, store.Micros(s.clock.Now()), id, StatusCreated, approval)
	if err != nil {
		s.log.Warn("end payment awaiting approval", "transaction", id, "err", err)
		return
	}
	if ended {
		s.log.Warn("incoming payment never got an invoice; rejected after its approval deadline", "transaction", id, "reason", reason)
	}
}
