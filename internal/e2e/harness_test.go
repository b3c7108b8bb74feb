package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// vaspProc is one vaspd instance under test: a real daemon with its own
// database, HTTP server and embedded Lightning node on the devnet, plus
// the platform's webhook receiver and an admin credential.
type vaspProc struct {
	t        *testing.T
	name     string
	domain   string
	base     string
	daemon   *daemon.Daemon
	cfg      daemon.Config
	ln       net.Listener
	clientID string
	secret   string
	hooks    *hookReceiver
	stop     func()
}

// hookReceiver is the platform's webhook endpoint: it records every
// webhook and answers approvals as the test says.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
	raw [][]byte // the bodies as received
	// approve answers INCOMING_PAYMENT PENDING; default 200 with a name.
	approve func(body map[string]any) (int, any)
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		h.mu.Lock()
		h.got = append(h.got, m)
		h.raw = append(h.raw, b)
		approve := h.approve
		h.mu.Unlock()
		status, reply := 200, any(nil)
		if tx, _ := m["transaction"].(map[string]any); m["type"] == "INCOMING_PAYMENT" && tx["status"] == "PENDING" {
			status, reply = 200, map[string]any{"receiverUserInfo": map[string]any{"FULL_NAME": "Bob Receiver"}}
			if approve != nil {
				status, reply = approve(m)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if reply != nil {
			_ = json.NewEncoder(w).Encode(reply)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// find returns the webhooks of type typ whose transaction has status.
func (h *hookReceiver) find(typ, status string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, m := range h.got {
		if tx, _ := m["transaction"].(map[string]any); m["type"] == typ && (status == "" || tx["status"] == status) {
			out = append(out, m)
		}
	}
	return out
}

// count returns how many webhooks of type typ arrived.
func (h *hookReceiver) count(typ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.got {
		if m["type"] == typ {
			n++
		}
	}
	return n
}

// databaseURL is "" (SQLite in the data dir) or a fresh PostgreSQL schema.
type dbKind func(t *testing.T) string

func sqliteDB(*testing.T) string { return "" }
func postgresDB(t *testing.T) string {
	if os.Getenv("VASPD_TEST_POSTGRES_URL") == "" {
		t.Skip("PostgreSQL: VASPD_TEST_POSTGRES_URL is not set")
	}
	return storetest.PostgresURL(t)
}

// twoVASPs starts two vaspd instances that can pay each other.
func twoVASPs(t *testing.T, db dbKind, tune func(*daemon.Config)) (a, b *vaspProc) {
	t.Helper()
	return twoVASPsTuned(t, db, tune, tune)
}

// twoVASPsTuned is twoVASPs with a tune of each instance's own.
func twoVASPsTuned(t *testing.T, db dbKind, tuneA, tuneB func(*daemon.Config)) (a, b *vaspProc) {
	t.Helper()
	la, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a = &vaspProc{t: t, name: "vasp1", ln: la}
	b = &vaspProc{t: t, name: "vasp2", ln: lb}
	a.cfg = config(t, la, lb, db(t))
	b.cfg = config(t, lb, la, db(t))
	if tuneA != nil {
		tuneA(&a.cfg)
	}
	if tuneB != nil {
		tuneB(&b.cfg)
	}
	a.start()
	b.start()
	return a, b
}

func config(t *testing.T, self, peer net.Listener, dbURL string) daemon.Config {
	port := self.Addr().(*net.TCPAddr).Port
	cfg := daemon.Config{
		DataDir: t.TempDir(), DatabaseURL: dbURL, Listen: self.Addr().String(),
		Domain: fmt.Sprintf("localhost:%d", port), LogFormat: "text", LogLevel: "warn",
		ShutdownTimeout: 10 * time.Second,
		// vaspd serve's default (a Config's zero is no limit): every
		// UMA request between the two comes from 127.0.0.1, as from one
		// counterparty, and the flows must pass within it.
		UMARateLimit: api.DefaultUMARequestsPerSecond,
	}
	cfg.Lightning.DevnetSecret = "e2e-devnet-secret"
	cfg.Lightning.DevnetPeers = "http://" + peer.Addr().String()
	cfg.Webhooks.AllowNets = "127.0.0.0/8"
	cfg.Payments.AllowNets = "127.0.0.0/8,localhost"
	cfg.Payments.ApprovalTimeout = 3 * time.Second
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (p *vaspProc) start() {
	t := p.t
	p.launch(io.Discard)
	waitReady(t, p.name, p.base)
	if p.clientID == "" {
		ctx := context.Background()
		tokens, err := auth.NewTokens(ctx, p.daemon.DB(), vaspd.SystemClock{})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokens.Create(ctx, "e2e", []vaspd.Permission{vaspd.PermView, vaspd.PermTransact, vaspd.PermManage})
		if err != nil {
			t.Fatal(err)
		}
		p.clientID, p.secret = tok.ClientID, tok.ClientSecret
		p.hooks = newHookReceiver(t)
		p.mustCall("PATCH", "/config", map[string]any{"webhookEndpoint": p.hooks.srv.URL}, nil)
	}
}

// launch starts the daemon without waiting for it to be ready; its
// standard output (where the first admin credential is printed) goes to out.
func (p *vaspProc) launch(out io.Writer) {
	t := p.t
	p.domain, p.base = p.cfg.Domain, p.cfg.BaseURL
	log := slog.New(slog.NewTextHandler(testWriter{t, p.name}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p.daemon = daemon.NewWithListener(p.cfg, p.ln, log, out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.daemon.Run(ctx) }()
	p.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s stopped with %v", p.name, err)
		}
	}
	t.Cleanup(func() {
		if p.stop != nil {
			p.stop()
			p.stop = nil
		}
	})
}

// restart stops the daemon and starts it again on the same address and data.
func (p *vaspProc) restart() {
	p.stop()
	p.stop = nil
	p.restart2(nil)
}

// restart2 starts a stopped daemon again; before, if set, first runs
// against its database (as an operator or a crash would leave it).
func (p *vaspProc) restart2(before func(db *store.DB)) {
	if before != nil {
		db, err := daemon.OpenDB(context.Background(), p.cfg, nil)
		if err != nil {
			p.t.Fatal(err)
		}
		before(db)
		db.Close()
	}
	// The port was free a moment ago, but another test process may
	// briefly hold it (a listener of its own picking a free port): retry
	// for a few seconds before calling the restart failed.
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", p.cfg.Listen); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("rebind %s: %v", p.cfg.Listen, err)
	}
	p.ln = ln
	p.start()
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(w.name + ": " + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// call does a platform API request through internal/apiclient (what the CLI
// and the demo use) and decodes the answer into out. It returns the HTTP
// status of an error answer, 200 for a success.
func (p *vaspProc) call(method, path string, body any, out any, header ...string) (int, error) {
	c := apiclient.Client{BaseURL: p.base, ClientID: p.clientID, ClientSecret: p.secret}
	err := c.Do(context.Background(), method, path, body, out, header...)
	var ae *apiclient.Error
	switch {
	case errors.As(err, &ae):
		return ae.Status, err
	case err != nil:
		return 0, err
	}
	return http.StatusOK, nil
}

func (p *vaspProc) mustCall(method, path string, body any, out any, header ...string) {
	p.t.Helper()
	if _, err := p.call(method, path, body, out, header...); err != nil {
		p.t.Fatal(err)
	}
}

// user creates a live user with a preferred currency.
func (p *vaspProc) user(local, currency, name string) users.User {
	p.t.Helper()
	u, err := users.New(p.daemon.DB(), vaspd.SystemClock{}).Create(context.Background(), p.daemon.DB(), users.User{
		PlatformUserID: "platform-" + local, UserType: users.Individual, UMALocal: local,
		KYCStatus: users.KYCVerified, PreferredCurrencies: []string{currency}, FullName: name,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return u
}

func (p *vaspProc) deposit(userID, currency string, amount int64) {
	p.t.Helper()
	_, err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Post(context.Background(),
		ledger.Deposit("deposit/"+vaspd.NewID("Deposit"), userID, currency, amount, "e2e"))
	if err != nil {
		p.t.Fatal(err)
	}
}

func (p *vaspProc) balance(userID, currency string) int64 {
	p.t.Helper()
	n, err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Balance(context.Background(), p.daemon.DB(), ledger.UserAccount(userID), currency)
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// checkBooks asserts the ledger's invariants: every currency sums to zero.
func (p *vaspProc) checkBooks() {
	p.t.Helper()
	if err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Check(context.Background(), p.daemon.DB()); err != nil {
		p.t.Errorf("%s ledger: %v", p.name, err)
	}
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
