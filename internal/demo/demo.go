// Package demo runs `vaspd demo`: two vaspd instances on loopback that pay
// each other across currencies, each with a platform that receives and
// verifies its webhooks, narrated step by step: a payment the payer's
// platform starts, then one the receiver asks for (a payment request). It uses only what a real
// deployment uses — the daemon, the platform API over HTTP and the webhook
// receiver toolkit — so it doubles as a walkthrough of the integration.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/webhook"
)

// Options tune the demo.
type Options struct {
	// Dir holds both instances' data: a new or empty directory (Run
	// refuses another); empty means a temporary directory removed at the end.
	Dir string
	// Log receives the daemons' logs (warnings and errors by default to stderr).
	Log *slog.Logger
}

// Run plays the demo, printing each step to out.
func Run(ctx context.Context, out io.Writer, opt Options) error {
	if opt.Dir == "" {
		dir, err := os.MkdirTemp("", "vaspd-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		opt.Dir = dir
	} else if entries, err := os.ReadDir(opt.Dir); err == nil && len(entries) > 0 {
		// A previous run's databases would fail this one half-way.
		return fmt.Errorf("%s is not empty: the demo starts from new databases; give a new or empty directory", opt.Dir)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	v1, err := start(ctx, &wg, "vasp1", opt, l1, l2)
	if err != nil {
		return err
	}
	v2, err := start(ctx, &wg, "vasp2", opt, l2, l1)
	if err != nil {
		return err
	}
	say("1. Two VASPs are up, each with its own SQLite database and embedded Lightning node on a loopback devnet:")
	say("     vasp1  %s   (Alice's fintech)", v1.base)
	say("     vasp2  %s   (Bob's wallet)", v2.base)

	for _, v := range []*instance{v1, v2} {
		if err := v.platform(ctx, out); err != nil {
			return err
		}
	}
	say("2. Each platform set its webhook URL (PATCH /config) and verifies every webhook's signature.")

	alice, err := v1.user(ctx, "alice", "USD", "Alice Smith")
	if err != nil {
		return err
	}
	bob, err := v2.user(ctx, "bob", "EUR", "Bob Jones")
	if err != nil {
		return err
	}
	if err := v1.deposit(ctx, alice, "USD", 100_00); err != nil {
		return err
	}
	bobAddr := "$bob@" + v2.domain
	say("3. Users (POST /users): $alice@%s holds USD, %s receives EUR. Alice's platform deposits $100.00 (POST /users/{id}/deposits).", v1.domain, bobAddr)

	lookup, err := v1.lookup(ctx, alice, bobAddr)
	if err != nil {
		return err
	}
	say("4. Lookup (signed LNURLP to vasp2): %s accepts %s, KYC %s → %s",
		bobAddr, lookup.SupportedCurrencies[0].Currency.Code, lookup.KycStatus, lookup.LookupID)

	q, err := v1.quote(ctx, map[string]any{
		"lookupId": lookup.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 10_00, "description": "Dinner",
	})
	if err != nil {
		return err
	}
	say("5. Quote (signed payreq with encrypted travel-rule data; vasp2 asked its platform, which approved):")
	say("     Bob receives €%s; Alice pays $%s (our fee $%s); invoice %d msats (vasp2's fee %d msats); valid until %s",
		money(q.TotalReceivingAmount), money(q.TotalSendingAmount), money(q.FeesIncluded), q.InvoiceAmountMsats,
		q.ReceiverFeeMsats, q.ExpiresAt.Format(time.TimeOnly))

	tx, err := v1.execute(ctx, q.QuoteID)
	if err != nil {
		return err
	}
	say("6. Execute: Alice's dollars are reserved, vasp1's node pays the invoice over Lightning → %s %s", tx.ID, tx.Status)

	deadline := time.Now().Add(20 * time.Second)
	for v2.hooks.count("INCOMING_PAYMENT", "COMPLETED") == 0 || v1.hooks.count("OUTGOING_PAYMENT", "COMPLETED") == 0 ||
		v2.utxoCallbacks(ctx) == 0 || v1.utxoCallbacks(ctx) == 0 {
		if time.Now().After(deadline) {
			return errors.New("the payment did not complete within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	say("7. Post-transaction callbacks, both ways: each VASP sent the other the UTXOs of the payment, signed; each verified and stored them.")
	say("8. Webhooks: Bob's platform got INCOMING_PAYMENT PENDING (approved) and COMPLETED; Alice's got OUTGOING_PAYMENT COMPLETED.")

	if err := paymentRequest(ctx, out, v1, v2, alice, bob, 5_00, 9); err != nil {
		return err
	}
	ab, _ := v1.balance(ctx, alice, "USD")
	bb, _ := v2.balance(ctx, bob, "EUR")
	say("14. Balances (GET /users/{id}/balances): Alice $%s, Bob €%s. Both ledgers balance to zero in every currency.", money(ab), money(bb))
	for _, v := range []*instance{v1, v2} {
		if err := ledger.New(v.d.DB(), vaspd.SystemClock{}).Check(ctx, v.d.DB()); err != nil {
			return fmt.Errorf("%s ledger: %w", v.name, err)
		}
	}
	return nil
}

func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// instance is one vaspd with its platform.
type instance struct {
	name, domain, base string
	d                  *daemon.Daemon
	api                apiclient.Client
	hooks              *receiver
}

func start(ctx context.Context, wg *sync.WaitGroup, name string, opt Options, self, peer net.Listener) (*instance, error) {
	port := self.Addr().(*net.TCPAddr).Port
	cfg := daemon.Config{
		DataDir: opt.Dir + "/" + name, Listen: self.Addr().String(), Domain: fmt.Sprintf("localhost:%d", port),
		LogFormat: "text", LogLevel: "warn", ShutdownTimeout: 5 * time.Second,
		// vaspd serve's default (a Config's zero is no limit): the demo
		// pays as two deployments would.
		UMARateLimit: api.DefaultUMARequestsPerSecond,
	}
	cfg.Lightning.DevnetSecret = "vaspd-demo-devnet"
	cfg.Lightning.DevnetPeers = "http://" + peer.Addr().String()
	cfg.Webhooks.AllowNets = "127.0.0.0/8"
	cfg.Payments.AllowNets = "127.0.0.0/8,localhost"
	if err := cfg.Resolve(); err != nil {
		return nil, err
	}
	d := daemon.NewWithListener(cfg, self, opt.Log.With("vasp", name), io.Discard)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.Run(ctx); err != nil {
			opt.Log.Error("vaspd stopped", "vasp", name, "err", err)
		}
	}()
	v := &instance{name: name, domain: cfg.Domain, base: cfg.BaseURL, d: d}
	if err := apiclient.WaitReady(ctx, v.base, nil, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%s did not become ready: %w", name, err)
	}
	tokens, err := auth.NewTokens(ctx, d.DB(), vaspd.SystemClock{})
	if err != nil {
		return nil, err
	}
	tok, err := tokens.Create(ctx, "demo", []vaspd.Permission{vaspd.PermView, vaspd.PermTransact, vaspd.PermManage})
	if err != nil {
		return nil, err
	}
	v.api = apiclient.Client{BaseURL: v.base, ClientID: tok.ClientID, ClientSecret: tok.ClientSecret}
	return v, nil
}

// platform starts the platform's webhook receiver and registers it.
func (v *instance) platform(ctx context.Context, out io.Writer) error {
	v.hooks = &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: v.hooks, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); srv.Close() }()
	var cfg struct {
		WebhookSecret string `json:"webhookSecret"`
	}
	if err := v.call(ctx, "PATCH", "/config", map[string]any{"webhookEndpoint": "http://" + ln.Addr().String() + "/webhooks"}, &cfg); err != nil {
		return err
	}
	verifier, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{cfg.WebhookSecret}})
	if err != nil {
		return fmt.Errorf("%s webhook secret: %w", v.name, err)
	}
	h, err := webhook.NewHandler(webhook.HandlerConfig{
		Verifier: verifier,
		Logger:   slog.New(slog.DiscardHandler),
		Handler: webhook.EventHandlerFunc(func(ctx context.Context, ev webhook.Event) (webhook.Reply, error) {
			v.hooks.record(ev)
			if in, ok := ev.(*webhook.IncomingPaymentWebhook); ok && in.Transaction.Status == webhook.StatusPending {
				of := ""
				if in.Transaction.PaymentRequestID != "" {
					of = " paying " + in.Transaction.PaymentRequestID
				}
				fmt.Fprintf(out, "     [%s platform] INCOMING_PAYMENT PENDING from %s%s: approve, name %q\n",
					v.name, in.Transaction.SenderUmaAddress, of, "Bob Jones")
				return webhook.Approve(map[string]any{webhook.FieldFullName: "Bob Jones"}), nil
			}
			return webhook.OK(), nil
		}),
	})
	if err != nil {
		return err
	}
	v.hooks.h.Store(h)
	return nil
}

type lookupResp struct {
	LookupID            string `json:"lookupId"`
	SupportedCurrencies []struct {
		Currency struct{ Code string }
		Min, Max int64
	} `json:"supportedCurrencies"`
	KycStatus string `json:"kycStatus"`
}

// lookup is GET /receiver/{address} for the sending user userID.
func (v *instance) lookup(ctx context.Context, userID, addr string) (lookupResp, error) {
	var lk lookupResp
	err := v.call(ctx, "GET", "/receiver/"+url.PathEscape(addr)+"?userId="+url.QueryEscape(userID), nil, &lk)
	if err == nil && len(lk.SupportedCurrencies) == 0 {
		err = fmt.Errorf("%s: lookup of %s offers no currency", v.name, addr)
	}
	return lk, err
}

type quoteResp struct {
	QuoteID              string    `json:"quoteId"`
	TotalSendingAmount   int64     `json:"totalSendingAmount"`
	TotalReceivingAmount int64     `json:"totalReceivingAmount"`
	FeesIncluded         int64     `json:"feesIncluded"`
	InvoiceAmountMsats   int64     `json:"invoiceAmountMsats"`
	ReceiverFeeMsats     int64     `json:"receiverFeeMsats"`
	ExpiresAt            time.Time `json:"expiresAt"`
}

func (v *instance) quote(ctx context.Context, body map[string]any) (quoteResp, error) {
	var q quoteResp
	err := v.call(ctx, "POST", "/quotes", body, &q)
	return q, err
}

type txResp struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// execute pays a quote, keyed by it: a retry cannot pay twice.
func (v *instance) execute(ctx context.Context, quoteID string) (txResp, error) {
	var tx txResp
	err := v.call(ctx, "POST", "/quotes/"+quoteID+"/execute", nil, &tx, "Idempotency-Key", "demo-"+quoteID)
	return tx, err
}

// call does a platform API request and decodes a 2xx answer into out.
func (v *instance) call(ctx context.Context, method, path string, body, out any, header ...string) error {
	if err := v.api.Do(ctx, method, path, body, out, header...); err != nil {
		return fmt.Errorf("%s: %s %s: %w", v.name, method, path, err)
	}
	return nil
}

func (v *instance) user(ctx context.Context, local, currency, name string) (string, error) {
	var u struct {
		ID string `json:"id"`
	}
	err := v.call(ctx, "POST", "/users", map[string]any{
		"umaAddress": "$" + local + "@" + v.domain, "platformUserId": "demo-" + local, "userType": "INDIVIDUAL",
		"kycStatus": "VERIFIED", "preferredCurrencies": []string{currency}, "fullName": name,
	}, &u)
	return u.ID, err
}

func (v *instance) deposit(ctx context.Context, userID, currency string, amount int64) error {
	return v.call(ctx, "POST", "/users/"+userID+"/deposits", map[string]any{"currencyCode": currency, "amount": amount,
		"reference": "demo-funding"}, nil, "Idempotency-Key", "demo-funding-"+userID)
}

func (v *instance) balance(ctx context.Context, userID, currency string) (int64, error) {
	var b struct {
		Balances []struct {
			Currency  struct{ Code string } `json:"currency"`
			Available int64                 `json:"available"`
		} `json:"balances"`
	}
	if err := v.call(ctx, "GET", "/users/"+userID+"/balances", nil, &b); err != nil {
		return 0, err
	}
	for _, x := range b.Balances {
		if x.Currency.Code == currency {
			return x.Available, nil
		}
	}
	return 0, nil
}

func (v *instance) utxoCallbacks(ctx context.Context) int {
	var n int
	_ = v.d.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM uma_utxo_callbacks`).Scan(&n)
	return n
}

// receiver is a platform's webhook endpoint: 503 until its secret is
// known (vaspd retries), then the webhook toolkit's verifying handler.
type receiver struct {
	h   atomic.Pointer[webhook.Handler]
	mu  sync.Mutex
	got []webhook.Event
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := r.h.Load()
	if h == nil {
		http.Error(w, "not configured yet", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, req)
}

func (r *receiver) record(ev webhook.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ev)
}

func (r *receiver) count(typ, status string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.got {
		switch e := ev.(type) {
		case *webhook.IncomingPaymentWebhook:
			if typ == string(webhook.TypeIncomingPayment) && string(e.Transaction.Status) == status {
				n++
			}
		case *webhook.OutgoingPaymentWebhook:
			if typ == string(webhook.TypeOutgoingPayment) && string(e.Transaction.Status) == status {
				n++
			}
		}
	}
	return n
}

// umaRequest is the UMA_REQUEST webhook received for the invoice
// invoiceUUID, or nil.
func (r *receiver) umaRequest(invoiceUUID string) *webhook.UmaRequestWebhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.got {
		if e, ok := ev.(*webhook.UmaRequestWebhook); ok && e.UmaRequest.InvoiceUUID == invoiceUUID {
			return e
		}
	}
	return nil
}

// incomingFor is an INCOMING_PAYMENT webhook of status paying the payment
// request paymentRequestID, or nil.
func (r *receiver) incomingFor(paymentRequestID string, status webhook.TransactionStatus) *webhook.IncomingPaymentWebhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.got {
		if e, ok := ev.(*webhook.IncomingPaymentWebhook); ok && e.Transaction.Status == status &&
			e.Transaction.PaymentRequestID == paymentRequestID {
			return e
		}
	}
	return nil
}
