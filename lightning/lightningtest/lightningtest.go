// Package lightningtest is the contract every lightning.Node backend must
// meet, as one test suite. A backend's tests call Run with a Harness that
// provides two nodes able to pay each other; the embedded node runs it on
// SQLite and PostgreSQL, the LND backend on a regtest network.
//
// The suite pins down the behaviour callers rely on and the interface
// comments only describe:
//
//   - Pay returns an error, and records nothing, when the invoice cannot be
//     paid as given: ErrInvalidInvoice, ErrWrongNetwork (or
//     ErrMainnetNotAllowed), ErrInvoiceExpired, ErrAmountMismatch (an amount
//     given for a fixed-amount invoice that differs from it, or none given
//     for a zero-amount invoice).
//   - Otherwise Pay returns the payment with a nil error: SUCCEEDED with a
//     preimage whose sha256 is the payment hash, FAILED with a typed
//     FailureReason (INSUFFICIENT_BALANCE when the payer cannot afford it),
//     or IN_FLIGHT when the timeout passed first.
//   - The payment hash is the idempotency key: paying an invoice again,
//     sequentially or concurrently, returns the same payment and moves
//     money once.
//   - A backend that cancels invoices (lightning.InvoiceCanceler) cancels
//     an open one for good: it reads CANCELED and a payment of it fails.
//   - Invoices, payments and the settle-index cursor survive a restart, and
//     a payment in flight at the restart reaches a final state after it.
//
// Nodes may be shared between tests (an LND network is too slow to build per
// test), so tests create their own invoices and never assume a fresh node.
package lightningtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// Harness gives the suite its nodes.
type Harness interface {
	// Nodes returns two nodes where alice can pay bob's invoices. Tests may
	// call it many times; returning the same pair each time is fine.
	Nodes(t *testing.T) (alice, bob lightning.Node)
	// Restart simulates restarting n's process: n is stopped (in-memory
	// state such as fault knobs is lost) and a new handle on the same
	// persistent state is returned, which replaces n in later Nodes calls.
	Restart(t *testing.T, n lightning.Node) lightning.Node
	// Wait lets d pass on the nodes' clocks: advance a fake clock, or sleep.
	Wait(t *testing.T, d time.Duration)
	// Config returns the knobs; zero fields take defaults.
	Config() Config
}

// Config tunes the suite to a backend.
type Config struct {
	// AmountMsat is the amount of the test invoices (default 10_000 msat).
	AmountMsat int64
	// MaxFeeMsat is the fee limit of test payments (default 10_000 msat).
	MaxFeeMsat int64
	// UnaffordableMsat is an amount alice cannot pay bob (beyond her balance
	// or channel); 0 skips the test that needs it unless the harness
	// implements Balances.
	UnaffordableMsat int64
	// Concurrency is the number of concurrent payments (default 8).
	Concurrency int
	// Timeout bounds how long the suite waits for a payment or a settlement
	// (default 30s).
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.AmountMsat == 0 {
		c.AmountMsat = 10_000
	}
	if c.MaxFeeMsat == 0 {
		c.MaxFeeMsat = 10_000
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// Balances is implemented by harnesses whose nodes expose and accept a
// balance (the embedded node); the suite then checks exact accounting and
// overdraft protection.
type Balances interface {
	Balance(t *testing.T, n lightning.Node) int64
	SetBalance(t *testing.T, n lightning.Node, msat int64)
}

// Holder is implemented by harnesses that can keep a node's outgoing
// payments in flight (undelivered) until the node restarts; the suite then
// checks that such payments resolve after the restart.
type Holder interface {
	Hold(t *testing.T, n lightning.Node)
}

// Run runs the contract suite as subtests of t.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h, cfg: h.Config().withDefaults()}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Info", s.testInfo},
		{"Validation", s.testValidation},
		{"CreateDecodePaySettle", s.testCreateDecodePaySettle},
		{"OwnInvoice", s.testOwnInvoice},
		{"CancelInvoice", s.testCancelInvoice},
		{"ZeroAmountInvoice", s.testZeroAmount},
		{"AmountMismatch", s.testAmountMismatch},
		{"Expiry", s.testExpiry},
		{"DoublePay", s.testDoublePay},
		{"ConcurrentDoublePay", s.testConcurrentDoublePay},
		{"InsufficientBalance", s.testInsufficientBalance},
		{"ConcurrentPayments", s.testConcurrentPayments},
		{"ConcurrentPaymentsDoNotOverdraw", s.testNoOverdraw},
		{"RestartAndResume", s.testRestartAndResume},
		{"InFlightResolvesAfterRestart", s.testInFlightAfterRestart},
		{"UTXOs", s.testUTXOs},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	h   Harness
	cfg Config
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// descHash is a distinct description hash per call, as UMA's
// sha256(metadata+payerData) would be.
func descHash(t *testing.T, tag string) lightning.Hash {
	return sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", t.Name(), tag, time.Now().UnixNano())))
}

func (s *suite) invoice(t *testing.T, n lightning.Node, amount int64) lightning.Invoice {
	t.Helper()
	inv, err := n.CreateInvoice(s.ctx(t), lightning.InvoiceRequest{
		AmountMsat: amount, DescriptionHash: descHash(t, "inv"), Expiry: 10 * time.Minute,
	})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	return inv
}

func (s *suite) payReq(pr string) lightning.PayRequest {
	return lightning.PayRequest{Invoice: pr, MaxFeeMsat: s.cfg.MaxFeeMsat, Timeout: s.cfg.Timeout}
}

// final pays (or tracks) until the payment is SUCCEEDED or FAILED.
func (s *suite) final(t *testing.T, n lightning.Node, p lightning.Payment) lightning.Payment {
	t.Helper()
	deadline := time.Now().Add(s.cfg.Timeout)
	for p.Status == lightning.StatusInFlight {
		if time.Now().After(deadline) {
			t.Fatalf("payment %s still in flight after %s", p.PaymentHash, s.cfg.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
		var err error
		if p, err = n.TrackPayment(s.ctx(t), p.PaymentHash); err != nil {
			t.Fatalf("TrackPayment: %v", err)
		}
	}
	return p
}

// pay pays pr and requires success with a valid proof of payment.
func (s *suite) pay(t *testing.T, n lightning.Node, pr string) lightning.Payment {
	t.Helper()
	p, err := n.Pay(s.ctx(t), s.payReq(pr))
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	p = s.final(t, n, p)
	checkSucceeded(t, p)
	return p
}

func checkSucceeded(t *testing.T, p lightning.Payment) {
	t.Helper()
	if p.Status != lightning.StatusSucceeded {
		t.Fatalf("payment %s: status %s (%s), want SUCCEEDED", p.PaymentHash, p.Status, p.FailureReason)
	}
	if sha256.Sum256(p.Preimage[:]) != p.PaymentHash {
		t.Fatalf("payment %s: preimage %s is no proof of payment", p.PaymentHash, p.Preimage)
	}
}

// waitSettled polls until the invoice is settled.
func (s *suite) waitSettled(t *testing.T, n lightning.Node, hash lightning.Hash) lightning.Invoice {
	t.Helper()
	deadline := time.Now().Add(s.cfg.Timeout)
	for {
		inv, err := n.LookupInvoice(s.ctx(t), hash)
		if err != nil {
			t.Fatalf("LookupInvoice: %v", err)
		}
		if inv.State == lightning.InvoiceSettled {
			return inv
		}
		if time.Now().After(deadline) {
			t.Fatalf("invoice %s: state %s after %s, want SETTLED", hash, inv.State, s.cfg.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledEvent subscribes from cursor and returns the first settled
// invoice with the given hash, failing if an event at or below the cursor
// arrives or nothing comes in time.
func (s *suite) settledEvent(t *testing.T, n lightning.Node, cursor uint64, hash lightning.Hash) lightning.Invoice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	ch, wait, err := n.SubscribeSettled(ctx, cursor)
	if err != nil {
		t.Fatalf("SubscribeSettled(%d): %v", cursor, err)
	}
	defer func() {
		cancel()
		for range ch {
		}
		if err := wait(); err != nil {
			t.Errorf("subscription ended with %v, want nil after cancel", err)
		}
	}()
	var last uint64 = cursor
	for inv := range ch {
		if inv.SettleIndex <= last {
			t.Fatalf("settle index %d after %d: not increasing past the cursor", inv.SettleIndex, last)
		}
		if inv.State != lightning.InvoiceSettled {
			t.Fatalf("subscription sent an invoice in state %s", inv.State)
		}
		last = inv.SettleIndex
		if inv.PaymentHash == hash {
			return inv
		}
	}
	t.Fatalf("invoice %s never arrived on the settled stream (after %d)", hash, cursor)
	return lightning.Invoice{}
}

func wantErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	t.Fatalf("%s: error %v, want one of %v", what, err, targets)
}

func (s *suite) balance(t *testing.T, n lightning.Node) (int64, bool) {
	b, ok := s.h.(Balances)
	if !ok {
		return 0, false
	}
	return b.Balance(t, n), true
}

// collectSettled subscribes from cursor and reads until every hash in want
// has arrived, each exactly once, with settle indexes strictly increasing
// past the cursor.
func (s *suite) collectSettled(t *testing.T, n lightning.Node, cursor uint64, want []lightning.Hash) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	ch, wait, err := n.SubscribeSettled(ctx, cursor)
	if err != nil {
		t.Fatalf("SubscribeSettled(%d): %v", cursor, err)
	}
	defer func() {
		cancel()
		for range ch {
		}
		if err := wait(); err != nil {
			t.Errorf("subscription ended with %v, want nil after cancel", err)
		}
	}()
	missing := map[lightning.Hash]bool{}
	for _, h := range want {
		missing[h] = true
	}
	seen := map[lightning.Hash]bool{}
	last := cursor
	for inv := range ch {
		if inv.SettleIndex <= last {
			t.Fatalf("settle index %d after %d: not increasing past the cursor", inv.SettleIndex, last)
		}
		if seen[inv.PaymentHash] {
			t.Fatalf("invoice %s arrived twice on the settled stream", inv.PaymentHash)
		}
		seen[inv.PaymentHash] = true
		last = inv.SettleIndex
		delete(missing, inv.PaymentHash)
		if len(missing) == 0 {
			return
		}
	}
	t.Fatalf("%d of %d invoices never arrived on the settled stream (after %d)", len(missing), len(want), cursor)
}
