package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/users"
)

// instance is one real vaspd daemon on loopback with its own database and
// embedded Lightning node on the shared devnet, plus an admin credential.
type instance struct {
	name, domain, base string
	d                  *daemon.Daemon
	api                apiclient.Client
	client             *http.Client
	done               chan error
}

// pair is the two VASPs of a run and how to stop them.
type pair struct {
	v1, v2  *instance
	cleanup []func()
}

// close stops the daemons and drops what the run created.
func (p *pair) close() {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

// startPair starts vasp1 (the sender) and vasp2 (the receiver) on the
// database kind db ("sqlite" in dir, or a fresh schema of pgURL).
func startPair(ctx context.Context, db, pgURL, dir string, log *slog.Logger) (*pair, error) {
	p := &pair{}
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l1.Close()
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	urls := [2]string{}
	if db == "postgres" {
		for i := range urls {
			u, drop, err := postgres.NewSchema(ctx, pgURL, "bench_payments_")
			if err != nil {
				l1.Close()
				l2.Close()
				return nil, err
			}
			p.cleanup = append(p.cleanup, func() { _ = drop() })
			urls[i] = u
		}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cleanup = append(p.cleanup, cancel)
	if p.v1, err = start(ctx, p, "vasp1", filepath.Join(dir, "vasp1"), urls[0], l1, l2, log); err != nil {
		l2.Close()
		return nil, err
	}
	if p.v2, err = start(ctx, p, "vasp2", filepath.Join(dir, "vasp2"), urls[1], l2, l1, log); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

func start(ctx context.Context, p *pair, name, dir, dbURL string, self, peer net.Listener, log *slog.Logger) (*instance, error) {
	port := self.Addr().(*net.TCPAddr).Port
	cfg := daemon.Config{
		DataDir: dir, DatabaseURL: dbURL, Listen: self.Addr().String(), Domain: fmt.Sprintf("localhost:%d", port),
		LogFormat: "text", LogLevel: "warn", ShutdownTimeout: 10 * time.Second,
	}
	cfg.Lightning.DevnetSecret = "vaspd-bench-devnet"
	cfg.Lightning.DevnetPeers = "http://" + peer.Addr().String()
	cfg.Webhooks.AllowNets = "127.0.0.0/8"
	cfg.Payments.AllowNets = "127.0.0.0/8,localhost"
	cfg.Payments.ApprovalTimeout = 5 * time.Second
	cfg.Payments.InvoiceExpiry = 10 * time.Minute
	cfg.Payments.PayTimeout = 30 * time.Second
	// Off, said outright: the benchmark sends thousands of payreqs a
	// second from one loopback address, which uma-rate-limit's default
	// would throttle; it measures vaspd's work, not the limit's.
	cfg.UMARateLimit = 0
	if err := cfg.Resolve(); err != nil {
		self.Close()
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		self.Close()
		return nil, err
	}
	v := &instance{name: name, domain: cfg.Domain, base: cfg.BaseURL, done: make(chan error, 1)}
	v.d = daemon.NewWithListener(cfg, self, log.With("vasp", name), io.Discard)
	runCtx, cancel := context.WithCancel(ctx)
	go func() { v.done <- v.d.Run(runCtx) }()
	p.cleanup = append(p.cleanup, func() {
		cancel()
		if err := <-v.done; err != nil {
			log.Error("vaspd stopped with an error", "vasp", name, "err", err)
		}
	})
	v.client = &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := v.client.Get(v.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-v.done:
			v.done <- err
			return nil, fmt.Errorf("%s stopped while starting: %v", name, err)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not become ready in 30 s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tokens, err := auth.NewTokens(ctx, v.d.DB(), vaspd.SystemClock{})
	if err != nil {
		return nil, err
	}
	tok, err := tokens.Create(ctx, "bench", []vaspd.Permission{vaspd.PermView, vaspd.PermTransact, vaspd.PermManage})
	if err != nil {
		return nil, err
	}
	v.api = apiclient.Client{BaseURL: v.base, ClientID: tok.ClientID, ClientSecret: tok.ClientSecret, HTTP: v.client}
	return v, nil
}

// user creates a verified user receiving or sending in currency.
func (v *instance) user(ctx context.Context, local, currency, name string) (string, error) {
	u, err := users.New(v.d.DB(), vaspd.SystemClock{}).Create(ctx, v.d.DB(), users.User{
		PlatformUserID: "platform-" + local, UserType: users.Individual, UMALocal: local,
		KYCStatus: users.KYCVerified, PreferredCurrencies: []string{currency}, FullName: name,
	})
	if err != nil {
		return "", fmt.Errorf("%s: create user %s: %w", v.name, local, err)
	}
	return u.ID, nil
}

// deposit credits a user as the platform's funding would.
func (v *instance) deposit(ctx context.Context, userID, currency string, amount int64) error {
	_, err := ledger.New(v.d.DB(), vaspd.SystemClock{}).Post(ctx,
		ledger.Deposit("deposit/"+vaspd.NewID("Deposit"), userID, currency, amount, "bench"))
	return err
}

// balance is a user's balance in currency.
func (v *instance) balance(ctx context.Context, userID, currency string) (int64, error) {
	return ledger.New(v.d.DB(), vaspd.SystemClock{}).Balance(ctx, v.d.DB(), ledger.UserAccount(userID), currency)
}

// checkBooks verifies that every currency of the ledger sums to zero.
func (v *instance) checkBooks(ctx context.Context) error {
	if err := ledger.New(v.d.DB(), vaspd.SystemClock{}).Check(ctx, v.d.DB()); err != nil {
		return fmt.Errorf("%s ledger: %w", v.name, err)
	}
	return nil
}

// call does a platform API request and decodes a 2xx answer into out.
func (v *instance) call(ctx context.Context, method, path string, body, out any, header ...string) error {
	if err := v.api.Do(ctx, method, path, body, out, header...); err != nil {
		return fmt.Errorf("%s: %s %s: %w", v.name, method, path, err)
	}
	return nil
}
