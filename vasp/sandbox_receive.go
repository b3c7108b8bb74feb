package vasp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// SandboxDomain is the domain of the sandbox's simulated senders
// ($success.usd@sandbox.umaaas.uma.money), UMAaaS's own. With the sandbox
// on, its keys are the in-memory ones of sandboxSender, answered by the
// service's key source without any HTTP: nobody outside this process can
// sign as it, and no request ever goes to that domain.
const SandboxDomain = "sandbox.umaaas.uma.money"

// sandboxPayTimeout bounds the sandbox sender's payment of its invoice.
const sandboxPayTimeout = 30 * time.Second

// sandboxSender is the simulated sending VASP's identity: keys made when
// the service starts, never stored (a payreq it signed is verified by the
// process that signed it, in the same call).
type sandboxSender struct {
	keys *uma.Keys
}

func newSandboxSender() (*sandboxSender, error) {
	k, err := uma.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("sandbox sender key: %w", err)
	}
	return &sandboxSender{keys: &uma.Keys{Signing: k, Encryption: k}}, nil
}

// sandboxKeySource answers the sandbox domain's keys from memory, and
// every other domain's from next.
type sandboxKeySource struct {
	sender *sandboxSender
	next   uma.PublicKeySource
}

func (k sandboxKeySource) PublicKeys(ctx context.Context, domain string) (*uma.PublicKeys, error) {
	if uma.SameDomain(domain, SandboxDomain) {
		pub := k.sender.keys.Signing.PublicKey()
		return &uma.PublicKeys{Signing: pub, Encryption: pub}, nil
	}
	return k.next.PublicKeys(ctx, domain)
}

var _ uma.KeyRefresher = sandboxKeySource{}

// RefreshPublicKeys passes the Verifier's refresh after a failed
// signature (uma.KeyRefresher) on to next: with the sandbox on, every
// counterparty's keys are found through here, and without it a VASP that
// rotated its keys had its messages refused until next's cache expired.
// The sandbox sender's keys never change: they are answered as they are
// (the Verifier then keeps the failure), and no request goes out for them.
func (k sandboxKeySource) RefreshPublicKeys(ctx context.Context, domain string) (*uma.PublicKeys, error) {
	if uma.SameDomain(domain, SandboxDomain) {
		return k.PublicKeys(ctx, domain)
	}
	r, ok := k.next.(uma.KeyRefresher)
	if !ok {
		return nil, errNoKeyRefresh
	}
	return r.RefreshPublicKeys(ctx, domain)
}

// errNoKeyRefresh answers a refresh when next cannot fetch keys anew.
var errNoKeyRefresh = errors.New("the key source cannot fetch keys anew")

// senderAllowed is Compliance.CounterpartyAllowed for a payreq's sender.
// The sandbox sender, with the sandbox on, passes an allow list (it is no
// counterparty an operator would think to list: the money is the node's
// own test money) but not a deny list that names it: an operator may
// switch the sandbox's receive off that way. A Compliance other than
// DomainPolicy is asked as for any sender.
func (s *Service) senderAllowed(ctx context.Context, domain string) error {
	if p, ok := s.opt.Compliance.(DomainPolicy); ok && s.sandbox != nil && uma.SameDomain(domain, SandboxDomain) {
		p.Allow = nil
		return p.CounterpartyAllowed(ctx, domain)
	}
	return s.opt.Compliance.CounterpartyAllowed(ctx, domain)
}

// SandboxReceive is a simulated payment to one of our users
// (POST /sandbox/receive).
type SandboxReceive struct {
	Sender   string // a sandbox sender: $success[.currency]@SandboxDomain
	Receiver string // our user's UMA address; or
	UserID   string // our user's id (both: the same user)
	Currency string // what the user receives, and how much
	Amount   int64
	// IdempotencyKey, if set, makes the call once: a retry with it is
	// answered the transaction the first recorded (422
	// IDEMPOTENCY_KEY_REUSED for another request), and is no payment.
	IdempotencyKey string
}

// sandboxClaim is a sandbox payment's Idempotency-Key and the request it
// was given for, recorded with the payment (sandbox_idempotency_key,
// unique, and sandbox_request); empty for every other payment.
type sandboxClaim struct {
	key, request string
}

// replaySandboxReceive answers the transaction c.key recorded, if there is
// one (done): 422 IDEMPOTENCY_KEY_REUSED when it was for another request.
func (s *Service) replaySandboxReceive(ctx context.Context, c sandboxClaim) (Transaction, bool, error) {
	var id, request string
	err := s.db.QueryRowContext(ctx, `SELECT id, sandbox_request FROM uma_transactions WHERE sandbox_idempotency_key = $1`,
		c.key).Scan(&id, &request)
	if errors.Is(err, sql.ErrNoRows) {
		return Transaction{}, false, nil
	}
	if err != nil {
		return Transaction{}, false, fmt.Errorf("read sandbox payment by idempotency key: %w", err)
	}
	if request != c.request {
		return Transaction{}, true, vaspd.Errorf(http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused,
			"this Idempotency-Key was already used for another sandbox payment")
	}
	t, err := s.GetTransaction(ctx, id)
	t.Replayed = err == nil
	return t, true, err
}

// SandboxReceive has the sandbox sender pay in.Amount of in.Currency to
// one of our users through the real receiving flow: a signed UMA payreq
// answered by PayRequest (the platform's INCOMING_PAYMENT approval, the
// invoice, the payment recorded), then the invoice paid on the node as
// a payer outside would pay it (SandboxPayer), credited by the normal
// settlement path with its COMPLETED webhook.
//
// It returns the transaction once the platform has decided and, approved,
// the invoice is paid: PENDING until the settlement credits it, moments
// later; FAILED when the platform refused it. An error is returned only
// for a payment that was never recorded (bad input, a currency the user
// does not receive, an amount out of range).
func (s *Service) SandboxReceive(ctx context.Context, in SandboxReceive) (Transaction, error) {
	payer, err := s.sandboxPayer()
	if err != nil {
		return Transaction{}, err
	}
	sender, err := uma.ParseAddress(in.Sender)
	if err != nil || !sender.UMA || !uma.SameDomain(sender.Domain, SandboxDomain) {
		return Transaction{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress,
			"senderUmaAddress must be a sandbox sender at %s, such as $success.usd@%s", SandboxDomain, SandboxDomain)
	}
	if behaviour, _, _ := strings.Cut(strings.ToLower(sender.User), "."); behaviour != "success" {
		return Transaction{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress,
			"sandbox sender %s is not one vaspd simulates: only $success[.currency]@%s is (docs/sandbox.md)", vaspd.Truncate(in.Sender, 100), SandboxDomain)
	}
	// One spelling of the sender, whichever it was given in ("…money.",
	// "…money:443", upper case: the same domain, uma.NormalizeDomain):
	// the payer's identifier, the transaction's senderUmaAddress and its
	// webhooks name it as every other payment of the sandbox.
	sender.Domain = SandboxDomain
	r, err := s.sandboxRecipient(ctx, in)
	if err != nil {
		return Transaction{}, err
	}
	// With a key, the request is compared in the form it is recorded in:
	// the sender as above, the user by id (by address or id), the
	// currency upper-cased (the API's), the amount.
	var claim sandboxClaim
	if in.IdempotencyKey != "" {
		claim = sandboxClaim{key: in.IdempotencyKey,
			request: fmt.Sprintf("%s %s %s %d", strings.ToLower(sender.String()), r.UserID, strings.ToUpper(in.Currency), in.Amount)}
		if t, done, err := s.replaySandboxReceive(ctx, claim); done || err != nil {
			return t, err
		}
	}
	pr, err := s.sandboxPayReq(sender, in)
	if err != nil {
		return Transaction{}, err
	}
	var id string
	resp, err := s.answerPayRequest(ctx, r.Local, pr, claim, &id)
	if err != nil {
		// A copy sent at once recorded its payment first: the key's
		// unique index refused this one, which is answered that one
		// (nothing of this one was recorded, nor will be paid).
		if id == "" && claim.key != "" && s.db.Driver().IsUniqueViolation(err) {
			if t, done, rerr := s.replaySandboxReceive(ctx, claim); done || rerr != nil {
				return t, rerr
			}
		}
		if id == "" {
			return Transaction{}, sandboxRefusal(err)
		}
		// Recorded, then refused or failed (the platform's 403, no
		// decision in time): the transaction says how it ended.
		s.log.Info("sandbox payment not paid", "transaction", id, "err", err)
		return s.GetTransaction(ctx, id)
	}
	// Paid whatever becomes of the platform's request: an invoice left
	// unpaid would only expire.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sandboxPayTimeout)
	defer cancel()
	if err := payer.PaySandboxInvoice(pctx, resp.PR); err != nil {
		s.log.Error("sandbox payment: paying the invoice failed; the payment expires with it", "transaction", id, "err", err)
		return Transaction{}, fmt.Errorf("sandbox payment %s: pay the invoice: %w", id, err)
	}
	s.log.Info("sandbox payment paid", "transaction", id, "counterparty", vaspd.Truncate(sender.Domain, 100))
	return s.GetTransaction(ctx, id)
}

// sandboxRecipient is the user in names, by address or id.
func (s *Service) sandboxRecipient(ctx context.Context, in SandboxReceive) (Recipient, error) {
	if in.Receiver == "" {
		return s.opt.Users.ByID(ctx, in.UserID)
	}
	addr, err := uma.ParseAddress(in.Receiver)
	if err != nil || !uma.SameDomain(addr.Domain, s.opt.Domain) {
		return Recipient{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidReceiver,
			"receiverUmaAddress must be the address of one of this VASP's users, $name@%s", s.opt.Domain)
	}
	r, err := s.opt.Users.ByUMALocal(ctx, addr.User)
	if err != nil {
		return Recipient{}, err
	}
	if in.UserID != "" && in.UserID != r.UserID {
		return Recipient{}, vaspd.InvalidInput("userId and receiverUmaAddress name different users; give one, or both for the same user")
	}
	return r, nil
}

// sandboxPayReq is the sandbox sender's signed payreq for in: the amount in
// the receiving currency (convert), as a sender that locks what the
// receiver gets asks it. It has no utxoCallback: no post-transaction
// callback is owed to a sender that has no server.
func (s *Service) sandboxPayReq(sender uma.Address, in SandboxReceive) (*uma.PayRequest, error) {
	travel, err := json.Marshal(map[string]any{"originator": map[string]any{"name": "Sandbox Sender", "identifier": sender.String()}})
	if err != nil {
		return nil, err
	}
	encrypted, err := uma.EncryptTravelRuleInfo(s.opt.Keys.Encryption.PublicKey(), travel)
	if err != nil {
		return nil, fmt.Errorf("sandbox travel-rule info: %w", err)
	}
	payer := &uma.PayerData{Identifier: sender.String(), Name: "Sandbox Sender", Compliance: &uma.CompliancePayerData{
		KycStatus: uma.KycVerified, EncryptedTravelRuleInfo: encrypted,
	}}
	// Whatever else we ask of senders (required-counterparty-fields), the
	// sandbox sender gives, made up, as a real sender would give it.
	for key := range s.payerData {
		switch v, ok := sandboxPayerFields[key]; {
		case key == uma.DataEmail:
			payer.Email = "sandbox@" + SandboxDomain
		case ok:
			if payer.Extra == nil {
				payer.Extra = map[string]json.RawMessage{}
			}
			payer.Extra[key] = json.RawMessage(strconv.Quote(v))
		}
	}
	pr := &uma.PayRequest{Amount: in.Amount, SendingCurrency: in.Currency, ReceivingCurrency: in.Currency,
		PayeeData: uma.UMADataOptions("name"), PayerData: payer}
	if err := pr.Sign(s.sandbox.keys.Signing, s.clock.Now()); err != nil {
		return nil, fmt.Errorf("sign the sandbox payreq: %w", err)
	}
	return pr, nil
}

// sandboxPayerFields is the sandbox sender's made-up payer data, by LUD-18
// key: every key of PayerFieldNames but those PayerData has fields for
// (identifier, name, email).
var sandboxPayerFields = map[string]string{
	"birthDate": "1990-01-01", "nationality": "US", "countryOfResidence": "US", "phoneNumber": "+15555550100",
	"postalAddress": "1 Sandbox Street, San Francisco, CA 94103, US", "accountIdentifier": "sandbox-account",
}

// sandboxRefusal is the receiving flow's refusal of a payment it never
// recorded, an UMA error meant for the sending VASP, as the platform API's
// error for the platform that asked.
func sandboxRefusal(err error) error {
	var ue *uma.Error
	if !errors.As(err, &ue) {
		return err
	}
	switch ue.Code {
	case uma.CodeInvalidCurrency:
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency, "%s", ue.Reason)
	case uma.CodeAmountOutOfRange:
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange, "%s", ue.Reason)
	case uma.CodeUserNotReady:
		return vaspd.Errorf(http.StatusForbidden, vaspd.CodeUserNotReady, "%s", ue.Reason)
	case uma.CodeCounterpartyNotAllowed:
		return vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s (counterparty-deny names the sandbox domain)", ue.Reason)
	case uma.CodeUserNotFound:
		return vaspd.NotFound(vaspd.CodeUserNotFound, "%s", ue.Reason)
	}
	if st := ue.HTTPStatus(); st >= 400 && st < 500 {
		return vaspd.InvalidInput("%s", ue.Reason)
	}
	return err
}
