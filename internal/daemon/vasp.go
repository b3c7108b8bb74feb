package daemon

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/vasp"
)

// MinPaymentTimeout is the least approval-timeout and pay-timeout (but
// for 0, the default).
const MinPaymentTimeout = time.Second

// MinCounterpartyTimeout and MaxCounterpartyTimeout bound
// counterparty-timeout (but for 0, the default, vasp.DefaultCounterpartyTimeout).
// Under a second a signed call over TLS to another continent, let alone a
// payreq whose answer waits for the receiving platform's approval, times
// out; the platform waits for up to three such calls on a lookup (two
// lnurlp versions and the keys), so more than a few minutes would hold its
// request, and a worker of ours, far past any client's patience.
const (
	MinCounterpartyTimeout = time.Second
	MaxCounterpartyTimeout = 5 * time.Minute
)

// Bounds of quote-refresh-lead and quote-refresh-max-hold (but for 0,
// the default): see PaymentConfig.resolve.
const (
	MinQuoteRefreshLead    = time.Second
	MaxQuoteRefreshLead    = time.Hour
	MinQuoteRefreshMaxHold = time.Minute
	MaxQuoteRefreshMaxHold = 24 * time.Hour
)

// Bounds of quote-expiry-margin (but for 0, the default): under a second
// no payment is sure to reach the receiver's node in it; past ten minutes
// most receivers' invoices (1 to 15 minutes) would hand the quote only
// the three quarters of their life the margin leaves at least.
const (
	MinQuoteExpiryMargin = time.Second
	MaxQuoteExpiryMargin = 10 * time.Minute
)

// MaxQuoteRefreshMaxChangeBps bounds quote-refresh-max-change-bps (from 1,
// but for 0, the default): a tolerance of half the price is no bound a
// platform could show its user.
const MaxQuoteRefreshMaxChangeBps = 5_000

// Bounds of lookup-retention (but for 0, the default).
const (
	MinLookupRetention = time.Hour
	MaxLookupRetention = 10 * 365 * 24 * time.Hour
)

// Bounds of uma-request-retention (but for 0, the default): as
// lookup-retention's.
const (
	MinUmaRequestRetention = MinLookupRetention
	MaxUmaRequestRetention = MaxLookupRetention
)

// Bounds of bulk-upload-error-retention (but for 0, the default): as
// lookup-retention's. Under an hour a platform polling a job's errors
// could find them gone before it read them.
const (
	MinBulkUploadErrorRetention = MinLookupRetention
	MaxBulkUploadErrorRetention = MaxLookupRetention
)

// Bounds of reconcile-interval (but for 0, off) and reconcile-window.
// Under a minute, runs would follow each other with the node answering
// little else (each looks up every payment of the window); a day is the
// least a reconciliation must be. The window is at least an hour (the
// payments of the last interval, and their settlements), at most 31 days.
const (
	MinReconcileInterval = time.Minute
	MaxReconcileInterval = 24 * time.Hour
	MinReconcileWindow   = time.Hour
	MaxReconcileWindow   = 31 * 24 * time.Hour
)

// PaymentConfig tunes the UMA payment flows.
type PaymentConfig struct {
	RatesFile string
	// RatesReloadInterval is how often rates-file is looked at for a
	// change; RatesMaxAge how old its rates may be to price new money
	// (0: no limit). See rates.go.
	RatesReloadInterval time.Duration
	RatesMaxAge         time.Duration
	ApprovalTimeout     time.Duration
	InvoiceExpiry       time.Duration
	PayTimeout          time.Duration
	// CounterpartyTimeout bounds each call to another VASP (lnurlp,
	// payreq, public keys, post-transaction callbacks), its answer read.
	CounterpartyTimeout time.Duration
	// QuoteRefreshLead and QuoteRefreshMaxHold tune the refresher of
	// quotes asked to auto-refresh (vasp.Options).
	QuoteRefreshLead    time.Duration
	QuoteRefreshMaxHold time.Duration
	// QuoteExpiryMargin is how long before its receiver's invoice a quote
	// expires (vasp.Options).
	QuoteExpiryMargin time.Duration
	// QuoteRefreshMaxChangeBps is how much worse for the sender, in basis
	// points, an auto-refresh's terms may be than the quote's first ones
	// (vasp.Options).
	QuoteRefreshMaxChangeBps int64
	// LookupRetention is how long a lookup no quote was made from is kept.
	LookupRetention time.Duration
	// UmaRequestRetention is how long after its expiry an UMA request
	// received is kept.
	UmaRequestRetention time.Duration
	// BulkUploadErrorRetention is how long after its bulk upload job ended
	// a row error is kept (users.ImporterOptions.ErrorRetention).
	BulkUploadErrorRetention time.Duration
	// ReconcileInterval is how often the payments of the last
	// ReconcileWindow are reconciled with the Lightning node (0: never).
	ReconcileInterval time.Duration
	ReconcileWindow   time.Duration
	AllowDomains      string // comma-separated
	DenyDomains       string
	AllowNets         string // comma-separated CIDRs/hosts exempt from the SSRF guard
	// PayLightningAddresses lets users pay plain Lightning Addresses
	// (LUD-16 over LNURL-pay), not only UMA addresses.
	PayLightningAddresses bool
	// RequiredCounterpartyFields is what we ask of senders besides their
	// identifier and compliance data (vasp.ParseRequiredCounterpartyFields).
	RequiredCounterpartyFields string
}

func (c *PaymentConfig) declare(s *config.Set) {
	c.declareRates(s)
	s.Duration(&c.ApprovalTimeout, "approval-timeout", 5*time.Second, "how long the platform has to approve an incoming payment (INCOMING_PAYMENT webhook)")
	s.Duration(&c.InvoiceExpiry, "invoice-expiry", 10*time.Minute, "life of the invoices vaspd issues to senders")
	s.Duration(&c.PayTimeout, "pay-timeout", 30*time.Second, "how long executing a quote waits for the payment before answering PROCESSING")
	s.Duration(&c.CounterpartyTimeout, "counterparty-timeout", vasp.DefaultCounterpartyTimeout, "how long one call to another VASP (lookup, payreq, its keys) may take before the platform's request fails with a 424 (0 = the default)")
	s.Duration(&c.QuoteExpiryMargin, "quote-expiry-margin", vasp.DefaultQuoteExpiryMargin, "a quote expires this long before its receiver's invoice, at most a quarter of the invoice's life left (0 = the default)")
	s.Duration(&c.QuoteRefreshLead, "quote-refresh-lead", vasp.DefaultQuoteRefreshLead, "a quote made with autoRefresh is refreshed once it has less than this (or half its life) left before its expiresAt (0 = the default)")
	s.Duration(&c.QuoteRefreshMaxHold, "quote-refresh-max-hold", vasp.DefaultQuoteRefreshMaxHold, "a quote made with autoRefresh is refreshed until this long after it was made; it then expires with its invoice (0 = the default)")
	s.Int64(&c.QuoteRefreshMaxChangeBps, "quote-refresh-max-change-bps", vasp.DefaultQuoteRefreshMaxChangeBps, "an auto-refresh whose terms are worse for the sender than those the quote was made with by more than this, in basis points (200 = 2 %), is not written and the quote's auto-refresh stops (0 = the default)")
	s.Duration(&c.LookupRetention, "lookup-retention", vasp.DefaultLookupRetention, "how long a receiver lookup no quote was made from is kept; older ones are deleted every hour (0 = the default)")
	s.Duration(&c.UmaRequestRetention, "uma-request-retention", vasp.DefaultUmaRequestRetention, "how long after its expiry an UMA request received is kept, paid or not (one whose payment is in flight stays); older ones are deleted every hour (0 = the default)")
	s.Duration(&c.BulkUploadErrorRetention, "bulk-upload-error-retention", users.DefaultImportErrorRetention, "how long after its bulk upload job (POST /users/bulk/csv) ended a row error is kept; older ones are deleted every hour (0 = the default)")
	s.Duration(&c.ReconcileInterval, "reconcile-interval", time.Hour, "how often the payments of the last reconcile-window are reconciled with the Lightning node (0 = never)")
	s.Duration(&c.ReconcileWindow, "reconcile-window", vasp.DefaultReconcileWindow, "the payments each periodic reconciliation checks: those created this long before it (0 = the default)")
	s.String(&c.AllowDomains, "counterparty-allow", "", "comma-separated VASP domains (host[:port], as in $user@host[:port]) we transact with (empty: all not denied); a bad or empty entry is refused")
	s.String(&c.DenyDomains, "counterparty-deny", "", "comma-separated VASP domains (host[:port], as in $user@host[:port]) we never transact with; a bad or empty entry is refused")
	s.Bool(&c.PayLightningAddresses, "pay-lightning-addresses", false, "let users pay plain Lightning Addresses (user@domain, LNURL-pay) too: unsigned, with no travel-rule data (counterparty-allow/-deny apply to their domains)")
	s.String(&c.RequiredCounterpartyFields, "required-counterparty-fields", vasp.DefaultRequiredCounterpartyFields, "what senders must tell about their user, besides the identifier and compliance data UMA requires: comma-separated UMAaaS field names (FULL_NAME, EMAIL, BIRTH_DATE, NATIONALITY, COUNTRY_OF_RESIDENCE, PHONE_NUMBER, POSTAL_ADDRESS, ACCOUNT_IDENTIFIER), each mandatory or, as NAME:optional, asked but optional; \"\" asks for nothing more")
	s.String(&c.AllowNets, "counterparty-allow-nets", "", "comma-separated CIDRs or hosts of counterparty VASPs that may be private or loopback (e.g. 127.0.0.0/8 to pay another vaspd on this machine)")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// domainList parses counterparty-allow or counterparty-deny: each entry a
// domain by UMA's rule (uma.ValidateDomain, as the domain setting), case
// and a trailing dot aside (uma.NormalizeDomain, as the lists are
// matched). An entry no counterparty's domain can be (a URL, a path, a
// stray character) would never match, and a deny list would let through
// the VASP it was meant to stop: refused, naming the entry, and so is an
// empty one (a stray comma). A value of only spaces is no list.
func domainList(setting, v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		d := strings.ToLower(strings.TrimSpace(e))
		if d == "" {
			return nil, fmt.Errorf("setting %s: \"\" is an empty entry (a stray comma?): want comma-separated domains such as vasp2.example.com", setting)
		}
		if err := uma.ValidateDomain(d); err != nil {
			return nil, fmt.Errorf("setting %s: %q is not a VASP domain: want a DNS name or IPv4 address (letters, digits, - and .) with an optional :port, as in $user@vasp2.example.com (no scheme, path or @)", setting, vaspd.Truncate(strings.TrimSpace(e), 100))
		}
		out = append(out, uma.NormalizeDomain(d))
	}
	return out, nil
}

func (c *PaymentConfig) resolve() error {
	// 0 is each one's default (vasp.New). A year bounds them all: the
	// longest an invoice may live, and far from the overflow of adding
	// them to a time.
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"approval-timeout", c.ApprovalTimeout}, {"invoice-expiry", c.InvoiceExpiry}, {"pay-timeout", c.PayTimeout}} {
		if d.d < 0 || d.d > lightning.MaxInvoiceExpiry {
			return fmt.Errorf("setting %s: want 0 (the default) to %s, got %s", d.name, lightning.MaxInvoiceExpiry, d.d)
		}
	}
	// Below a second, the platform cannot answer the approval webhook in
	// time (its attempt alone may take that: delivery's floor on an
	// attempt's timeout), so every incoming payment would be rejected; and
	// no payment completes within the execute's wait, so every execute
	// would answer PROCESSING.
	for _, d := range []struct {
		name, def string
		d         time.Duration
	}{{"approval-timeout", "5s", c.ApprovalTimeout}, {"pay-timeout", "30s", c.PayTimeout}} {
		if d.d != 0 && d.d < MinPaymentTimeout {
			return fmt.Errorf("setting %s: want 0 (the default, %s) or from %s to %s, got %s", d.name, d.def, MinPaymentTimeout, lightning.MaxInvoiceExpiry, d.d)
		}
	}
	if d := c.CounterpartyTimeout; d != 0 && (d < MinCounterpartyTimeout || d > MaxCounterpartyTimeout) {
		return fmt.Errorf("setting counterparty-timeout: want 0 (the default, %s) or from %s to %s, got %s",
			vasp.DefaultCounterpartyTimeout, MinCounterpartyTimeout, MaxCounterpartyTimeout, d)
	}
	// A lead under a second leaves a refresh no time to reach the
	// receiver before the invoice expires; over an hour, every quote
	// (whose rate is locked an hour at most) would be due at once. A
	// hold under a minute is hardly one refresh; over a day, a forgotten
	// quote would cost its receiver an approval every few minutes for
	// longer than any platform holds a quote.
	for _, d := range []struct {
		name           string
		d, def, lo, hi time.Duration
	}{
		{"quote-refresh-lead", c.QuoteRefreshLead, vasp.DefaultQuoteRefreshLead, MinQuoteRefreshLead, MaxQuoteRefreshLead},
		{"quote-refresh-max-hold", c.QuoteRefreshMaxHold, vasp.DefaultQuoteRefreshMaxHold, MinQuoteRefreshMaxHold, MaxQuoteRefreshMaxHold},
		{"quote-expiry-margin", c.QuoteExpiryMargin, vasp.DefaultQuoteExpiryMargin, MinQuoteExpiryMargin, MaxQuoteExpiryMargin},
	} {
		if d.d != 0 && (d.d < d.lo || d.d > d.hi) {
			return fmt.Errorf("setting %s: want 0 (the default, %s) or from %s to %s, got %s", d.name, d.def, d.lo, d.hi, d.d)
		}
	}
	// The tolerance of an auto-refresh's new price (vasp.refreshAllowed):
	// 1 basis point allows next to no move; past MaxQuoteRefreshMaxChangeBps
	// the quote's terms are hardly bounded.
	if b := c.QuoteRefreshMaxChangeBps; b < 0 || b > MaxQuoteRefreshMaxChangeBps {
		return fmt.Errorf("setting quote-refresh-max-change-bps: want 0 (the default, %d: %d %%) or from 1 to %d basis points, got %d",
			vasp.DefaultQuoteRefreshMaxChangeBps, vasp.DefaultQuoteRefreshMaxChangeBps/100, MaxQuoteRefreshMaxChangeBps, b)
	}
	// Under an hour a lookup could go between the platform's lookup and
	// its quote; ten years is keeping them.
	if d := c.LookupRetention; d != 0 && (d < MinLookupRetention || d > MaxLookupRetention) {
		return fmt.Errorf("setting lookup-retention: want 0 (the default, %s) or from %s to %s, got %s",
			vasp.DefaultLookupRetention, MinLookupRetention, MaxLookupRetention, d)
	}
	if d := c.UmaRequestRetention; d != 0 && (d < MinUmaRequestRetention || d > MaxUmaRequestRetention) {
		return fmt.Errorf("setting uma-request-retention: want 0 (the default, %s) or from %s to %s, got %s",
			vasp.DefaultUmaRequestRetention, MinUmaRequestRetention, MaxUmaRequestRetention, d)
	}
	if d := c.BulkUploadErrorRetention; d != 0 && (d < MinBulkUploadErrorRetention || d > MaxBulkUploadErrorRetention) {
		return fmt.Errorf("setting bulk-upload-error-retention: want 0 (the default, %s) or from %s to %s, got %s",
			users.DefaultImportErrorRetention, MinBulkUploadErrorRetention, MaxBulkUploadErrorRetention, d)
	}
	if d := c.ReconcileInterval; d != 0 && (d < MinReconcileInterval || d > MaxReconcileInterval) {
		return fmt.Errorf("setting reconcile-interval: want 0 (never) or from %s to %s, got %s", MinReconcileInterval, MaxReconcileInterval, d)
	}
	if d := c.ReconcileWindow; d != 0 && (d < MinReconcileWindow || d > MaxReconcileWindow) {
		return fmt.Errorf("setting reconcile-window: want 0 (the default, %s) or from %s to %s, got %s",
			vasp.DefaultReconcileWindow, MinReconcileWindow, MaxReconcileWindow, d)
	}
	// Each run checks the payments of the window before it: a window
	// shorter than the time between two runs leaves the payments made
	// between them unchecked, for good. Runs come an interval apart, and
	// up to nearly two when the process that took the last turn stops
	// (another's tick takes the next: takeReconcileTurn).
	if w := cmp.Or(c.ReconcileWindow, vasp.DefaultReconcileWindow); c.ReconcileInterval > 0 && w < 2*c.ReconcileInterval {
		return fmt.Errorf("setting reconcile-window: want at least twice reconcile-interval (%s), got %s", 2*c.ReconcileInterval, w)
	}
	// Invoices carry their expiry in whole seconds (BOLT 11), at least one.
	if e := c.InvoiceExpiry; e != 0 && (e < time.Second || e%time.Second != 0) {
		return fmt.Errorf("setting invoice-expiry: want whole seconds, at least 1s, got %s", e)
	}
	if _, err := ssrf.New(splitList(c.AllowNets)); err != nil {
		return fmt.Errorf("setting counterparty-allow-nets: %w", err)
	}
	if _, err := c.compliance(); err != nil {
		return err
	}
	if _, err := vasp.ParseRequiredCounterpartyFields(c.RequiredCounterpartyFields); err != nil {
		return fmt.Errorf("setting required-counterparty-fields: %w", err)
	}
	return c.resolveRates()
}

// compliance is the counterparty-allow and counterparty-deny lists.
func (c PaymentConfig) compliance() (vasp.DomainPolicy, error) {
	allow, err := domainList("counterparty-allow", c.AllowDomains)
	if err != nil {
		return vasp.DomainPolicy{}, err
	}
	deny, err := domainList("counterparty-deny", c.DenyDomains)
	if err != nil {
		return vasp.DomainPolicy{}, err
	}
	return vasp.DomainPolicy{Allow: allow, Deny: deny}, nil
}

// directory lets the payment flows find users.
type directory struct {
	db    *store.DB
	users *users.Service
}

func recipient(u users.User) vasp.Recipient {
	return vasp.Recipient{UserID: u.ID, PlatformUserID: u.PlatformUserID, Local: u.UMALocal, Name: u.FullName,
		Currencies: u.PreferredCurrencies, KYCStatus: uma.KycStatus(u.KYCStatus)}
}

func (d directory) ByUMALocal(ctx context.Context, local string) (vasp.Recipient, error) {
	u, err := d.users.GetByUMALocal(ctx, d.db, local)
	if err != nil {
		return vasp.Recipient{}, err
	}
	return recipient(u), nil
}

func (d directory) ByID(ctx context.Context, id string) (vasp.Recipient, error) {
	u, err := d.users.Get(ctx, d.db, id)
	if err != nil {
		return vasp.Recipient{}, err
	}
	return recipient(u), nil
}

// CheckLive reads the user afresh in the transaction making an incoming
// payment's invoice payable: ByUMALocal's cache may not yet know of a
// deletion or a rename made by another process (vasp.LiveChecker).
func (d directory) CheckLive(ctx context.Context, q store.Querier, id, local string) error {
	return d.users.CheckLive(ctx, q, id, local)
}

var _ vasp.LiveChecker = directory{}

// umaKeys turns the stored secp256k1 keys into the protocol's keys with
// self-signed certificates (UMA counterparties accept them; a CA-issued
// chain can replace them later).
func umaKeys(k Keys, domain string, now time.Time) (*uma.Keys, error) {
	sign, err := uma.ParsePrivateKey(k.Signing.Serialize())
	if err != nil {
		return nil, err
	}
	enc, err := uma.ParsePrivateKey(k.Encryption.Serialize())
	if err != nil {
		return nil, err
	}
	from, to := now.Add(-24*time.Hour), now.AddDate(1, 0, 0)
	signCert, err := uma.NewSelfSignedCertificate(sign, domain, from, to)
	if err != nil {
		return nil, err
	}
	encCert, err := uma.NewSelfSignedCertificate(enc, domain, from, to)
	if err != nil {
		return nil, err
	}
	return &uma.Keys{Signing: sign, Encryption: enc, SigningCertChain: [][]byte{signCert}, EncryptionCertChain: [][]byte{encCert}}, nil
}

type paymentDeps struct {
	db       *store.DB
	cfg      Config
	keys     Keys
	previous []PreviousKey // decrypt-only encryption keys
	node     lightning.Node
	webhooks *delivery.Service
	clock    vaspd.Clock
	log      *slog.Logger
	registry prometheus.Registerer
	tracer   trace.Tracer // nil: tracing off
}

func openPayments(d paymentDeps) (*vasp.Service, *users.Service, *ledger.Ledger, *rates.ConfigProvider, error) {
	provider, err := d.cfg.Payments.provider(d.clock, d.log)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if d.registry != nil {
		if err := provider.Register(d.registry); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	us := users.New(d.db, d.clock, users.WithRates(provider))
	led := ledger.New(d.db, d.clock)
	keys, err := umaKeys(d.keys, d.cfg.Domain, d.clock.Now())
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("UMA keys: %w", err)
	}
	previous := make([]*uma.PrivateKey, len(d.previous))
	for i, k := range d.previous {
		if previous[i], err = uma.ParsePrivateKey(k.Key.Serialize()); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("UMA keys: %s: %w", k.Source(), err)
		}
	}
	guard, err := ssrf.New(splitList(d.cfg.Payments.AllowNets))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("setting counterparty-allow-nets: %w", err)
	}
	compliance, err := d.cfg.Payments.compliance()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	payerData, err := vasp.ParseRequiredCounterpartyFields(d.cfg.Payments.RequiredCounterpartyFields)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("setting required-counterparty-fields: %w", err)
	}
	// Counterparty domains come from user input: the client refuses
	// private, loopback and metadata addresses at dial time, and redirects.
	// Its timeout is counterparty-timeout (0: the default), never none: a
	// counterparty that never answers would hold the call for ever.
	timeout := cmp.Or(d.cfg.Payments.CounterpartyTimeout, vasp.DefaultCounterpartyTimeout)
	client := &http.Client{
		Transport:     ssrf.NewTransport(guard, 5*time.Second),
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	v, err := vasp.New(vasp.Options{
		HTTPClient: client,
		DB:         d.db, Domain: d.cfg.Domain, BaseURL: d.cfg.BaseURL, Keys: keys, Node: d.node, Ledger: led,
		Rates: provider, Users: directory{db: d.db, users: us}, Webhooks: d.webhooks,
		Clock: d.clock, Log: d.log.With("component", "payments"),
		ApprovalTimeout: d.cfg.Payments.ApprovalTimeout, InvoiceExpiry: d.cfg.Payments.InvoiceExpiry,
		PayTimeout: d.cfg.Payments.PayTimeout, CounterpartyTimeout: timeout,
		QuoteRefreshLead: d.cfg.Payments.QuoteRefreshLead, QuoteRefreshMaxHold: d.cfg.Payments.QuoteRefreshMaxHold,
		QuoteExpiryMargin:        d.cfg.Payments.QuoteExpiryMargin,
		QuoteRefreshMaxChangeBps: d.cfg.Payments.QuoteRefreshMaxChangeBps, LookupRetention: d.cfg.Payments.LookupRetention,
		UmaRequestRetention: d.cfg.Payments.UmaRequestRetention,
		ReconcileInterval:   d.cfg.Payments.ReconcileInterval, ReconcileWindow: d.cfg.Payments.ReconcileWindow,
		PayLightningAddresses: d.cfg.Payments.PayLightningAddresses, PayerData: payerData, Compliance: compliance, PreviousEncryptionKeys: previous, Registerer: d.registry, Tracer: d.tracer,
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// A user with payments in flight is not deleted (their money would
	// be stranded); the payment requests they leave are cancelled.
	us.OnDelete(v.BeforeUserDelete)
	return v, us, led, provider, nil
}
