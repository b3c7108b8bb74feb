package vasp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// Recipient is what the flows need to know about one of our users.
type Recipient struct {
	UserID         string
	PlatformUserID string
	Local          string   // UMA local part, "bob" for $bob@our.domain
	Name           string   // full name or business name, may be empty
	Currencies     []string // preferred currencies, first = default; empty = every currency we offer
	// KYCStatus is the user's KYC status as the platform set it, told
	// to counterparties as it is ("" is UNKNOWN): see kycStatus.
	KYCStatus uma.KycStatus
}

// Directory finds our users. The users package implements it in the
// daemon; tests use a map.
type Directory interface {
	// ByUMALocal returns the live user with that UMA local part, or a
	// *vaspd.Error with status 404.
	ByUMALocal(ctx context.Context, local string) (Recipient, error)
	// ByID returns the live user with that id, or a 404 *vaspd.Error.
	ByID(ctx context.Context, id string) (Recipient, error)
}

// LiveChecker is implemented by a Directory whose ByUMALocal may answer
// from a cache that a deletion or a rename made by another process
// sharing the database has not reached yet (users.DefaultLocalCacheTTL):
// for up to its life $alice may still be found as the user X another
// process renamed, the address perhaps since taken by Y. The receiver
// then confirms, in the transaction that records an incoming payment or
// makes its invoice payable, that its recipient is still live and still
// holds the address it was found by: no invoice is handed out for a user
// deleted before it, nor for one who no longer holds the address the
// sender paid, by whichever process.
type LiveChecker interface {
	// CheckLive returns a *vaspd.Error with status 404 unless userID is a
	// live user whose UMA local part is local (Recipient.Local, as
	// ByUMALocal or ByID found it; "" accepts any), read with q. When
	// q is a *store.Tx the user's row must stay share-locked until it
	// ends (store.Driver.ForShare), so that a concurrent delete and
	// the payment recorded after the check are ordered: see
	// BeforeUserDelete.
	CheckLive(ctx context.Context, q store.Querier, userID, local string) error
}

// Options configure a Service. DB, Domain, Keys, Node, Ledger, Rates,
// Users and Webhooks are required.
type Options struct {
	DB       *store.DB
	Domain   string // our UMA domain, "vasp2.com" or "localhost:8081"
	BaseURL  string // public base URL; default from Domain by UMA's scheme rule
	Keys     *uma.Keys
	Node     lightning.Node
	Ledger   *ledger.Ledger
	Rates    rates.Provider
	Users    Directory
	Webhooks *delivery.Service
	// Compliance holds the VASP's rules; default DomainPolicy{} (everyone).
	Compliance Compliance
	// PreviousEncryptionKeys are encryption keys served before
	// Keys.Encryption (README, "UMA keys across processes"): used only to
	// decrypt travel-rule data a sender encrypted to one of them, after
	// Keys.Encryption failed; never served, never used to encrypt.
	PreviousEncryptionKeys []*uma.PrivateKey

	// HTTPClient calls counterparty VASPs (lnurlp, payreq, keys, post-tx
	// callbacks); default: CounterpartyTimeout as its timeout, no
	// redirects. One given should have CounterpartyTimeout as its timeout.
	HTTPClient *http.Client
	// CounterpartyTimeout bounds one call to another VASP, its answer read
	// (DefaultCounterpartyTimeout): a counterparty that has not answered by
	// then fails the platform's lookup or quote with a 424 saying so. A
	// payreq's answer may wait for the receiving platform's approval.
	CounterpartyTimeout time.Duration
	// KeySource overrides how counterparty keys are found (tests);
	// default: a uma.KeyFetcher with an in-memory cache over HTTPClient.
	KeySource uma.PublicKeySource

	Clock vaspd.Clock
	Log   *slog.Logger
	// Tracer makes spans of counterparty calls, invoices and payments
	// (tracing.go); nil, the default, none.
	Tracer trace.Tracer

	// ApprovalTimeout bounds the INCOMING_PAYMENT approval (5 s).
	ApprovalTimeout time.Duration
	// InvoiceExpiry is the life of the invoices we issue (10 min); a
	// sender's quote expires before its invoice.
	InvoiceExpiry time.Duration
	// QuoteExpiryMargin is how long before its receiver's invoice a quote
	// of ours expires (30 s), at most a quarter of the invoice's life left
	// when the quote is priced (quote.go, quoteExpiry).
	QuoteExpiryMargin time.Duration
	// MinSendableMsats and MaxSendableMsats bound incoming payments
	// (1 sat .. 10 BTC by default). MaxSendableMsats is at most
	// lightning.MaxAmountMsat (21M BTC, the most an invoice can ask):
	// larger is taken as that.
	MinSendableMsats, MaxSendableMsats int64
	// MaxRoutingFeePPM caps the routing fee of an outgoing payment, per
	// payment: max(1000 msats, this fraction in ppm of the invoice); 0
	// means 5000 (0.5 %). The fee is the VASP's cost (system:fees), not
	// the user's: a quote's debit is all the user pays (README).
	MaxRoutingFeePPM int64
	// PayTimeout is how long an execute waits for the payment (30 s);
	// payments still in flight finish in the background.
	PayTimeout time.Duration

	// QuoteRefreshLead, QuoteRefreshMaxHold and QuoteRefreshEvery tune
	// the refresher of quotes asked to auto-refresh (refresh.go): it
	// refreshes a quote with less than the lead (30 s) before its expiry or
	// half its life left, until the maximum hold (1 h) from the quote's
	// creation, looking every pass (5 s).
	QuoteRefreshLead, QuoteRefreshMaxHold, QuoteRefreshEvery time.Duration
	// QuoteRefreshMaxChangeBps bounds how much worse for our user, in
	// basis points, a refresh's terms may be than those the quote was made
	// with (refresh_bound.go); 0 or less is the default,
	// DefaultQuoteRefreshMaxChangeBps (2 %), and more than 10 000 is taken
	// as 10 000.
	QuoteRefreshMaxChangeBps int64
	// LookupRetention is how long a lookup no quote was made from is kept
	// (DefaultLookupRetention, a week); older ones are deleted every hour
	// (PurgeLookups).
	LookupRetention time.Duration
	// UmaRequestRetention is how long after its expiry an UMA request
	// received is kept (DefaultUmaRequestRetention, 30 days); older ones
	// are deleted every hour (PurgeUmaRequests).
	UmaRequestRetention time.Duration
	// PayerData is what the receiving side asks of senders (in lnurlp
	// answers and UMA invoices, by LUD-18 key) besides their identifier
	// and compliance data, which UMA makes mandatory and are always asked:
	// a payreq lacking a key marked mandatory is refused
	// (MISSING_MANDATORY_PAYER_DATA) before the platform is asked to
	// approve it. nil, the default, asks for the name, optional
	// (DefaultRequiredCounterpartyFields); ParseRequiredCounterpartyFields
	// reads the setting.
	PayerData uma.CounterpartyDataOptions
	// PayLightningAddresses lets our users pay plain Lightning Addresses
	// (LUD-16, an address without "$") over LNURL-pay (LUD-06): lnaddr.go.
	// Off, the default, only UMA receivers are paid.
	PayLightningAddresses bool
	// ReconcileInterval is how often the payments of the last
	// ReconcileWindow (DefaultReconcileWindow) are reconciled with the
	// node (reconcile.go); 0, the default, never.
	ReconcileInterval, ReconcileWindow time.Duration
	// Registerer, if not nil, receives the flows' metrics
	// (vaspd_quote_refreshes_total and the payment metrics of metrics.go).
	Registerer prometheus.Registerer
}

// Service runs the UMA flows of one VASP: it answers counterparties as a
// receiver, pays them as a sender, and books every movement in the ledger.
type Service struct {
	opt      Options
	db       *store.DB
	clock    vaspd.Clock
	log      *slog.Logger
	client   *http.Client
	verifier *uma.Verifier
	nonces   *NonceCache
	// payeeData is what our payreqs ask of the payee: identifier and
	// compliance mandatory, name optional. A receiver's answer lacking a
	// mandatory key is refused (checkPayeeData).
	payeeData uma.CounterpartyDataOptions
	// payerData is what we ask of senders: identifier and compliance
	// mandatory, and Options.PayerData. A payreq lacking a mandatory key
	// is refused (PayRequest).
	payerData uma.CounterpartyDataOptions

	// callbackWake tells the post-transaction callback sender that a
	// payment just completed (see callbacks.go).
	callbackWake chan struct{}

	// resolveAfter is where the outgoing resolver's next round starts (a
	// transaction id; "" from the first). resolveMu makes those rounds
	// exclusive and guards resolveAfter: resolveOutgoing's goroutine runs
	// rounds, and so may others (tests do, beside Run).
	resolveMu    sync.Mutex
	resolveAfter string
	// resolveFind is what the resolver logged of its query for payments
	// in flight failing (guarded by resolveMu), and outgoingNoted of the
	// outgoing payments it could not claim, send or book: see
	// noteFindFailures and noteOutgoing.
	resolveFind   outage
	sweepFind     outage // the sweep's query for PENDING payments, likewise
	outgoingNoted noteLog
	// sweepAfter is where the next sweep of pending incoming payments
	// starts, alike. sweepMu makes those sweeps exclusive and guards
	// sweepAfter: watchSettlements's goroutine sweeps, and so may others
	// (tests do, beside Run).
	sweepMu    sync.Mutex
	sweepAfter string

	// capped is when each payment the balance cap keeps PENDING (by
	// payment hash) was last logged as such: see noteCapped.
	capped noteLog

	// sweepLookups and resolveLookups are what the sweep of pending
	// incoming payments and the resolver of outgoing ones logged of the
	// lookups they could not make: see lookupFailure.
	sweepLookups, resolveLookups lookupLog
	// walkLimit is how long one sweep or resolver round may go on
	// starting lookups: see walk.
	walkLimit time.Duration

	// refreshes counts the quote refresher's outcomes, and refreshNoted
	// is what it logged of its claims failing (refresh.go).
	refreshes    *prometheus.CounterVec
	refreshNoted noteLog
	// ratesNoted is what the receiver logged of currencies its users
	// name and the rates lack (receiver.go).
	ratesNoted noteLog
	// payments are the payment metrics (metrics.go).
	payments *paymentMetrics
	// cancelUnsupported is set once the node said it cannot cancel
	// invoices (cancelBooked): that is logged once, not per payment.
	cancelUnsupported atomic.Bool
	// reconcileMu keeps Reconcile to one run at a time (reconcile.go),
	// and reconciles are the periodic runs' metrics.
	reconcileMu       sync.Mutex
	reconciles        *reconcileMetrics
	reconcilePageSize int // payments one query reads: reconcilePage
	// sandbox is the sandbox's simulated sender (sandbox_receive.go),
	// nil when the node offers no SandboxPayer: the sandbox is then off.
	sandbox *sandboxSender
	// beforeClaim, if set (tests), runs in ExecuteQuote between reading
	// the quote and claiming it.
	beforeClaim func(quoteID string)
	// afterRecipientCheck, if set (tests), runs in the transaction that
	// records an approved incoming payment, after checkRecipient: where
	// a concurrent delete of the recipient must wait or be seen.
	afterRecipientCheck func(userID string)
	// beforeIssue, if set (tests), runs as issueInvoice starts: after
	// the approval and its re-check of a payment request.
	beforeIssue func(txID string)
}

// New checks opts and returns a Service. Run its background work with Run.
func New(opts Options) (*Service, error) {
	switch {
	case opts.DB == nil, opts.Domain == "", opts.Keys == nil, opts.Node == nil, opts.Ledger == nil,
		opts.Rates == nil, opts.Users == nil, opts.Webhooks == nil:
		return nil, errors.New("vasp: DB, Domain, Keys, Node, Ledger, Rates, Users and Webhooks are required")
	}
	if err := opts.Keys.Validate(); err != nil {
		return nil, fmt.Errorf("vasp: keys: %w", err)
	}
	if slices.Contains(opts.PreviousEncryptionKeys, nil) {
		return nil, errors.New("vasp: a previous encryption key is nil")
	}
	if opts.BaseURL == "" {
		opts.BaseURL = uma.BaseURL(opts.Domain)
	}
	if err := uma.CheckBaseURL(opts.BaseURL); err != nil {
		return nil, fmt.Errorf("vasp: BaseURL %w", err)
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	if opts.Clock == nil {
		opts.Clock = vaspd.SystemClock{}
	}
	if opts.Compliance == nil {
		opts.Compliance = DomainPolicy{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CounterpartyTimeout <= 0 {
		opts.CounterpartyTimeout = DefaultCounterpartyTimeout
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{
			Timeout: opts.CounterpartyTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if opts.Tracer != nil {
		opts.HTTPClient = traceClient(opts.HTTPClient, opts.Tracer)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.ApprovalTimeout, 5*time.Second)
	def(&opts.InvoiceExpiry, 10*time.Minute)
	def(&opts.PayTimeout, 30*time.Second)
	def(&opts.QuoteExpiryMargin, DefaultQuoteExpiryMargin)
	def(&opts.QuoteRefreshLead, DefaultQuoteRefreshLead)
	def(&opts.QuoteRefreshMaxHold, DefaultQuoteRefreshMaxHold)
	def(&opts.QuoteRefreshEvery, DefaultQuoteRefreshEvery)
	if opts.QuoteRefreshMaxChangeBps <= 0 {
		opts.QuoteRefreshMaxChangeBps = DefaultQuoteRefreshMaxChangeBps
	}
	// A sender-locked quote's credit bound, 1 − tolerance, is not
	// negative.
	opts.QuoteRefreshMaxChangeBps = min(opts.QuoteRefreshMaxChangeBps, bpsScale)
	def(&opts.LookupRetention, DefaultLookupRetention)
	def(&opts.UmaRequestRetention, DefaultUmaRequestRetention)
	def(&opts.ReconcileWindow, DefaultReconcileWindow)
	if opts.MinSendableMsats <= 0 {
		opts.MinSendableMsats = 1_000
	}
	if opts.MaxSendableMsats <= 0 {
		opts.MaxSendableMsats = 1_000_000_000_000
	}
	// No invoice asks for more than 21M BTC: a larger maxSendable would
	// price a payreq we then fail to invoice (an internal error for the
	// sender's amount) and advertise what we cannot issue.
	opts.MaxSendableMsats = min(opts.MaxSendableMsats, lightning.MaxAmountMsat)
	if opts.MaxRoutingFeePPM <= 0 {
		opts.MaxRoutingFeePPM = 5_000 // 0.5 %
	}
	s := &Service{opt: opts, db: opts.DB, clock: opts.Clock, log: opts.Log, client: opts.HTTPClient,
		payeeData: uma.UMADataOptions("name"), walkLimit: defaultWalkLimit, reconcilePageSize: reconcilePage}
	s.payerData = uma.UMADataOptions()
	if opts.PayerData == nil {
		s.payerData[uma.DataName] = uma.CounterpartyDataOption{}
	}
	for k, o := range opts.PayerData {
		if k != uma.DataIdentifier && k != uma.DataCompliance {
			s.payerData[k] = o
		}
	}
	s.callbackWake = make(chan struct{}, 1)
	var err error
	if s.refreshes, err = newRefreshMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("vasp: %w", err)
	}
	if s.payments, err = newPaymentMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("vasp: %w", err)
	}
	if s.reconciles, err = newReconcileMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("vasp: %w", err)
	}
	s.nonces = &NonceCache{DB: opts.DB, Now: opts.Clock.Now}
	keys := opts.KeySource
	if keys == nil {
		keys = &uma.KeyFetcher{Client: opts.HTTPClient, Now: opts.Clock.Now}
	}
	if _, ok := opts.Node.(SandboxPayer); ok {
		if s.sandbox, err = newSandboxSender(); err != nil {
			return nil, fmt.Errorf("vasp: %w", err)
		}
		keys = sandboxKeySource{sender: s.sandbox, next: keys}
	}
	// One message's key fetches share one call's time: a sender naming
	// ten backing signers at slow domains would otherwise hold its payreq
	// past our answer's write deadline and still have it recorded.
	s.verifier = &uma.Verifier{Keys: keys, Nonces: s.nonces, Now: opts.Clock.Now, KeyTimeout: opts.CounterpartyTimeout}
	return s, nil
}

// Domain is our UMA domain.
func (s *Service) Domain() string { return s.opt.Domain }

// ApprovalTimeout is how long a payreq may wait for the platform's
// approval (Options.ApprovalTimeout).
func (s *Service) ApprovalTimeout() time.Duration { return s.opt.ApprovalTimeout }

// PayTimeout is how long ExecuteQuote may wait for the payment
// (Options.PayTimeout).
func (s *Service) PayTimeout() time.Duration { return s.opt.PayTimeout }

// CounterpartyTimeout is how long one call to another VASP may take
// (Options.CounterpartyTimeout).
func (s *Service) CounterpartyTimeout() time.Duration { return s.opt.CounterpartyTimeout }

// DefaultCounterpartyTimeout is Options.CounterpartyTimeout's default: long
// enough for a receiver whose payreq answer waits for its platform's
// approval (5 s by default on vaspd), short enough that a platform's
// request to us is not held for long by a counterparty that hangs.
const DefaultCounterpartyTimeout = 15 * time.Second

// address renders a local part as our UMA address.
func (s *Service) address(local string) string { return "$" + local + "@" + s.opt.Domain }

// PubKeyResponse is the /.well-known/lnurlpubkey body: our keys, cached by
// counterparties for a day.
func (s *Service) PubKeyResponse() *uma.PubKeyResponse {
	return s.opt.Keys.PubKeyResponse(s.clock.Now().Add(24 * time.Hour))
}

// Configuration is the /.well-known/uma-configuration document.
func (s *Service) Configuration() *uma.Configuration {
	return uma.NewConfiguration(s.opt.Domain, s.opt.BaseURL+"/api/uma/request_pay")
}

// Run does the background work until ctx ends: crediting settled incoming
// payments, resolving outgoing payments left in flight, sending
// post-transaction callbacks, registering the completed payments a crash
// left unregistered (Compliance.RegisterTransaction), refreshing the
// quotes asked to auto-refresh, reading the open payments and the node for
// their gauges (metrics.go), reconciling the payments with the node every
// ReconcileInterval (reconcile.go), and purging old nonces, lookups and UMA requests. Each loop retries its own failures; Run returns when ctx ends
// and they have stopped.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.watchSettlements, s.resolveOutgoing, s.sendCallbacks, s.registerOwed, s.refreshQuotes, s.watchGauges, s.reconcileLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			if _, err := s.nonces.Purge(ctx); err != nil {
				s.log.Warn("purge nonces", "err", err)
			}
			if n, err := s.PurgeLookups(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("purge lookups: tried again in an hour", "err", err, "deleted", n)
			}
			if n, err := s.PurgeUmaRequests(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("purge UMA requests: tried again in an hour", "err", err, "deleted", n)
			}
		}
	}
}

// stamp is the time now as the database keeps it (UTC microseconds): what a
// record carries in an answer or a webhook is then what a later read shows.
func (s *Service) stamp() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// kycStatus is r's KYC status as UMA compliance data states it. Each of
// the four is told as kept: PENDING or UNKNOWN reported as NOT_VERIFIED
// would state a check the platform has not finished, or not made. An
// empty or unexpected value (the users package allows none) is UNKNOWN.
func (r Recipient) kycStatus() uma.KycStatus {
	if r.KYCStatus.Valid() {
		return r.KYCStatus
	}
	return uma.KycUnknown
}
