package lnd_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func TestNewValidates(t *testing.T) {
	f := newFakeLND(t)
	db := storetest.SQLite(t)
	for name, mod := range map[string]func(*lnd.Options){
		"no URL":       func(o *lnd.Options) { o.RESTURL = "" },
		"plain http":   func(o *lnd.Options) { o.RESTURL = "http://127.0.0.1:8080" },
		"no DB":        func(o *lnd.Options) { o.DB = nil },
		"no cert":      func(o *lnd.Options) { o.TLSCertPEM = nil },
		"missing cert": func(o *lnd.Options) { o.TLSCertPEM, o.TLSCertPath = nil, "/nonexistent/tls.cert" },
		"no macaroon":  func(o *lnd.Options) { o.Macaroon = nil },
		"negative fee": func(o *lnd.Options) { o.MaxFeeMsat = -1 },
		"grace within the request timeout": func(o *lnd.Options) {
			o.RequestTimeout, o.UnknownPaymentGrace = 5*time.Minute, 2*time.Minute
		},
		"grace without a margin": func(o *lnd.Options) {
			o.RequestTimeout, o.UnknownPaymentGrace = time.Minute, time.Minute+lnd.UnknownPaymentMargin-1
		},
		"request timeout that overflows": func(o *lnd.Options) { o.RequestTimeout = 1<<63 - 1 },
		"no network":                     func(o *lnd.Options) { o.Network = "" },
		"unknown network":                func(o *lnd.Options) { o.Network = "bitcoin" },
		"testnet4 by lnd's name":         func(o *lnd.Options) { o.Network = "testnet4" },
	} {
		o := f.options(db)
		mod(&o)
		if _, err := lnd.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// lnd's PaymentFailureReason values map onto lightning.FailureReason, with
// a nil error (a failed payment is a result, not an error), and a FAILED
// record that survives a restart.
func TestPayFailureMapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		for _, tc := range []struct {
			lnd    string
			reason lightning.FailureReason
		}{
			{"FAILURE_REASON_NO_ROUTE", lightning.FailureNoRoute},
			{"FAILURE_REASON_TIMEOUT", lightning.FailureTimeout},
			{"FAILURE_REASON_INSUFFICIENT_BALANCE", lightning.FailureInsufficientBalance},
			{"FAILURE_REASON_INCORRECT_PAYMENT_DETAILS", lightning.FailureIncorrectDetails},
			{"FAILURE_REASON_ERROR", lightning.FailureError},
			{"FAILURE_REASON_CANCELED", lightning.FailureCanceled},
			{"FAILURE_REASON_SOMETHING_NEW", lightning.FailureError},
		} {
			reason := tc.lnd
			f.onSend = func(string) ([]map[string]any, bool) {
				return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "FAILED", "failure_reason": reason}}, false
			}
			pr, hash, _ := f.payReq(50_000, time.Hour)
			p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err != nil || p.Status != lightning.StatusFailed || p.FailureReason != tc.reason || p.PaymentHash != hash {
				t.Errorf("%s: payment %+v, %v; want FAILED/%s and no error", tc.lnd, p, err, tc.reason)
			}
			// Stored: a new process reads it from the database, not lnd.
			f.mu.Lock()
			delete(f.payments, hash.String())
			f.mu.Unlock()
			tr, err := f.node(t, db).TrackPayment(fctx(t), hash)
			if err != nil || tr.Status != lightning.StatusFailed || tr.FailureReason != tc.reason {
				t.Errorf("%s: tracked after restart: %+v, %v", tc.lnd, tr, err)
			}
		}
		// A FAILED payment may be tried again, and this time it succeeds.
		f.onSend = nil
		pr, _, preimage := f.payReq(50_000, time.Hour)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr}); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("first attempt: %+v, %v", p, err)
		}
		f.onSend = nil
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr}); err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("retry: %+v, %v", p, err)
		}
	})
}

// Invoices that cannot be paid as given are refused with a typed error
// before anything is recorded or sent. lnd's router refusing to start a
// payment is typed the same way: a FAILED payment when the node cannot pay,
// an error and no record when the invoice cannot be paid.
func TestPayRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		pr, hash, _ := f.payReq(50_000, time.Hour)
		expired, expiredHash, _ := f.payReq(50_000, 0)
		for _, tc := range []struct {
			bolt11 string
			amount int64
			want   error
		}{
			{"", 0, lightning.ErrInvalidInvoice},
			{"lnbcrt1garbage", 0, lightning.ErrInvalidInvoice},
			{"lnbc1mainnetinvoice", 0, lightning.ErrWrongNetwork},
			{pr, 1, lightning.ErrAmountMismatch},
			{expired, 0, lightning.ErrInvoiceExpired},
		} {
			if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: tc.bolt11, AmountMsat: tc.amount}); !errors.Is(err, tc.want) {
				t.Errorf("pay %q (amount %d): %v, want %v", tc.bolt11, tc.amount, err, tc.want)
			}
		}
		for _, h := range []lightning.Hash{hash, expiredHash} {
			if _, err := n.TrackPayment(ctx, h); !errors.Is(err, lightning.ErrNotFound) {
				t.Fatalf("a refused payment was recorded: %v", err)
			}
		}
		if f.sendCount() != 0 {
			t.Fatalf("%d payments reached lnd; none should have", f.sendCount())
		}

		for _, tc := range []struct {
			msg    string
			reason lightning.FailureReason // "" when the refusal is an error
			want   error
		}{
			{"insufficient local balance", lightning.FailureInsufficientBalance, nil},
			{"no self-payments allowed", lightning.FailureNoRoute, nil},
			{"invoice expired. Valid until 2026-11-22 08:00:00 +0000 UTC", "", lightning.ErrInvoiceExpired},
			{"invalid payment request: checksum failed", "", lightning.ErrInvalidInvoice},
		} {
			f.mu.Lock()
			f.refuse = tc.msg
			f.mu.Unlock()
			pr, hash, _ := f.payReq(50_000, time.Hour)
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			tr, terr := n.TrackPayment(ctx, hash)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !errors.Is(terr, lightning.ErrNotFound) {
					t.Errorf("lnd refused with %q: %v (record: %+v, %v); want %v and nothing recorded", tc.msg, err, tr, terr, tc.want)
				}
				continue
			}
			if err != nil || p.Status != lightning.StatusFailed || p.FailureReason != tc.reason {
				t.Errorf("lnd refused with %q: %+v, %v; want FAILED/%s", tc.msg, p, err, tc.reason)
			}
			if terr != nil || tr.Status != lightning.StatusFailed || tr.FailureReason != tc.reason {
				t.Errorf("record after refusal %q: %+v, %v", tc.msg, tr, terr)
			}
		}
	})
}

// The payment is in the database, IN_FLIGHT, before lnd hears of it; the
// fee limit is the smaller of the request's and the configured one.
func TestPayRecordsBeforeSending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db, func(o *lnd.Options) { o.MaxFeeMsat = 2_000 })
		var seen string
		f.onSend = func(hash string) ([]map[string]any, bool) {
			var status string
			err := db.QueryRowContext(fctx(t), `SELECT status FROM lnd_payments WHERE payment_hash = $1`, hash).Scan(&status)
			seen = status
			if err != nil {
				seen = err.Error()
			}
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "SUCCEEDED"}}, false
		}
		pr, hash, preimage := f.payReq(70_000, time.Hour)
		p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, MaxFeeMsat: 5_000, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage || p.PaymentHash != hash ||
			p.AmountMsat != 70_000 || p.FeeMsat != 1_000 || p.ResolvedAt.IsZero() {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		if seen != "IN_FLIGHT" {
			t.Fatalf("when lnd received the payment the record was %q, want IN_FLIGHT", seen)
		}
		f.mu.Lock()
		body := f.sends[0]
		f.mu.Unlock()
		if body["fee_limit_msat"] != "2000" || body["payment_request"] != pr || body["timeout_seconds"] == nil {
			t.Fatalf("SendPaymentV2 body %v: want fee_limit_msat 2000 (the configured ceiling)", body)
		}
		var status, pre string
		if err := db.QueryRowContext(fctx(t), `SELECT status, preimage FROM lnd_payments WHERE payment_hash = $1`,
			hash.String()).Scan(&status, &pre); err != nil || status != "SUCCEEDED" || pre != preimage.String() {
			t.Fatalf("record after success: %s %s %v", status, pre, err)
		}
	})
}

// The payment hash is the idempotency key: paying again — sequentially,
// concurrently, or from another process on the same database — reaches lnd
// once.
func TestPayIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		release := make(chan struct{})
		f.onSend = func(hash string) ([]map[string]any, bool) {
			<-release
			return []map[string]any{{"status": "IN_FLIGHT"}, {"status": "SUCCEEDED"}}, false
		}
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		nodes := []*lnd.Node{f.node(t, db), f.node(t, db)}
		var wg sync.WaitGroup
		results := make(chan lightning.Payment, 6)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := nodes[i%2].Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 10 * time.Second})
				if err != nil {
					t.Error(err)
				}
				results <- p
			}()
		}
		time.Sleep(300 * time.Millisecond)
		close(release)
		wg.Wait()
		close(results)
		for p := range results {
			if p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
				t.Errorf("concurrent pay: %+v", p)
			}
		}
		p, err := nodes[0].Pay(fctx(t), lightning.PayRequest{Invoice: pr})
		if err != nil || p.Status != lightning.StatusSucceeded || p.PaymentHash != hash {
			t.Fatalf("pay again: %+v, %v", p, err)
		}
		if got := f.sendCount(); got != 1 {
			t.Fatalf("lnd received %d sends for one invoice, want 1", got)
		}
	})
}

// A payment still in flight when Pay's timeout passes is returned as
// IN_FLIGHT; after a restart ResolveInFlight tracks it to its final state.
func TestInFlightResolvedAfterRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}}, true // HTLC stuck downstream
		}
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		p, err := f.node(t, db).Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 200 * time.Millisecond})
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("pay: %+v, %v; want IN_FLIGHT and no error", p, err)
		}
		// "Restart": a new backend on the same database. lnd still has it in flight.
		n2 := f.node(t, db)
		if left, err := n2.ResolveInFlight(fctx(t)); err != nil || left != 1 {
			t.Fatalf("ResolveInFlight while lnd is still paying: %d, %v; want 1", left, err)
		}
		f.resolvePayment(hash, "SUCCEEDED", "")
		if left, err := n2.ResolveInFlight(fctx(t)); err != nil || left != 0 {
			t.Fatalf("ResolveInFlight: %d, %v; want 0", left, err)
		}
		f.mu.Lock()
		f.payments = map[string]map[string]any{} // lnd forgot: the database must know
		f.mu.Unlock()
		tr, err := f.node(t, db).TrackPayment(fctx(t), hash)
		if err != nil || tr.Status != lightning.StatusSucceeded || tr.Preimage != preimage {
			t.Fatalf("tracked: %+v, %v", tr, err)
		}
		if f.sendCount() != 1 {
			t.Fatalf("%d sends, want 1", f.sendCount())
		}
	})
}

// The settled-invoice stream resumes from the last invoice delivered each
// time lnd drops it: nothing skipped, nothing twice.
func TestSubscribeReconnectsAndResumes(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	first := f.addSettled(t, 1000) // settle index 1, before the cursor
	_ = first
	want := []lightning.Hash{f.addSettled(t, 2000), f.addSettled(t, 3000)}
	f.dropAfter = 1
	ctx := fctx(t)
	ch, errFn, err := n.SubscribeSettled(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for i := 0; i < 4; i++ {
		if i == 2 {
			want = append(want, f.addSettled(t, 4000), f.addSettled(t, 5000))
		}
		select {
		case inv, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended: %v", errFn())
			}
			if inv.PaymentHash != want[i] || inv.State != lightning.InvoiceSettled || inv.AmountPaidMsat != int64(2000+1000*i) {
				t.Fatalf("event %d: %+v, want %s", i, inv, want[i])
			}
			got = append(got, inv.SettleIndex)
		case <-ctx.Done():
			t.Fatalf("event %d never came (got %v)", i, got)
		}
	}
	if !slices.Equal(got, []uint64{2, 3, 4, 5}) {
		t.Fatalf("settle indexes %v, want [2 3 4 5]", got)
	}
	f.mu.Lock()
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	if len(subs) < 4 || !slices.Equal(subs[:4], []uint64{1, 2, 3, 4}) {
		t.Fatalf("SubscribeInvoices settle_index per connection %v, want 1 2 3 4 …", subs)
	}
}

// Cursor 0 delivers every settled invoice (lnd's stream cannot replay from
// 0, so the backend lists them first), then live ones.
func TestSubscribeFromZero(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	h1, h2 := f.addSettled(t, 1000), f.addSettled(t, 2000)
	f.addInvoice(map[string]any{"value_msat": "1"}) // open: never delivered
	ch, _, err := n.SubscribeSettled(fctx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []lightning.Hash{h1, h2}
	for i := range 3 {
		if i == 2 {
			want = append(want, f.addSettled(t, 3000))
		}
		inv := <-ch
		if inv.PaymentHash != want[i] || inv.SettleIndex != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, inv)
		}
	}
}

// An overpaid invoice (lnd settles an invoice for more than its amount)
// is reported with its amount and, as AmountPaidMsat, what was paid
// (amt_paid_msat), by the stream and by LookupInvoice alike: the caller
// books what the node received.
func TestOverpaidInvoice(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	ch, _, err := n.SubscribeSettled(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := f.addInvoice(map[string]any{"value_msat": "1000", "value": "1"})
	f.settlePaid(h, 1500)
	select {
	case inv := <-ch:
		if inv.PaymentHash != h || inv.AmountMsat != 1000 || inv.AmountPaidMsat != 1500 {
			t.Fatalf("streamed: %+v, want amount 1000, paid 1500", inv)
		}
	case <-ctx.Done():
		t.Fatal("the overpaid invoice was never streamed")
	}
	inv, err := n.LookupInvoice(ctx, h)
	if err != nil || inv.State != lightning.InvoiceSettled || inv.AmountMsat != 1000 || inv.AmountPaidMsat != 1500 {
		t.Fatalf("looked up: %+v %v, want SETTLED, amount 1000, paid 1500", inv, err)
	}
}

// A stream that is connected but silently misses a settlement is caught by
// polling the invoices this process created, and resubscribing replays it.
func TestSubscribePollingSafetyNet(t *testing.T) {
	f := newFakeLND(t)
	f.silent = true
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	f.addSettled(t, 1000) // settle index 1: the caller's cursor
	ch, _, err := n.SubscribeSettled(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 5000, DescriptionHash: lightning.Hash{5}, Expiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The stream is up and quiet: past its replay, which would deliver a
	// settlement made before it (connecting is slow under -race).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		live := f.liveSubs
		f.mu.Unlock()
		if live > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the invoice stream never connected")
		}
	}
	f.settle(inv.PaymentHash)
	select {
	case got := <-ch:
		if got.PaymentHash != inv.PaymentHash || got.SettleIndex != 2 {
			t.Fatalf("event %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the missed settlement was never delivered")
	}
	f.mu.Lock()
	subs := len(f.subs)
	f.mu.Unlock()
	if subs < 2 {
		t.Fatalf("%d subscriptions; the poller should have forced a second", subs)
	}
}

// A rejected macaroon ends the subscription with an error instead of
// retrying forever, and the macaroon never appears in an error.
func TestSubscribePermissionDenied(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t), func(o *lnd.Options) { o.Macaroon = []byte("wrong macaroon") })
	ch, errFn, err := n.SubscribeSettled(fctx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event with a rejected macaroon")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription with a rejected macaroon kept retrying")
	}
	if err := errFn(); err == nil {
		t.Fatal("subscription ended without an error")
	}
	_, err = n.Info(fctx(t))
	if err == nil {
		t.Fatal("Info succeeded with a rejected macaroon")
	}
	for _, e := range []error{errFn(), err} {
		if s := e.Error(); containsAny(s, "wrong macaroon", "77726f6e67206d616361726f6f6e") {
			t.Fatalf("error leaks the macaroon: %s", s)
		}
	}
	if f.badMacaroon == 0 {
		t.Fatal("the fake never saw the wrong macaroon")
	}
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}

// Ending the context ends the subscription cleanly (nil error).
func TestSubscribeCancel(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx, cancel := contextWithCancel(t)
	ch, errFn, err := n.SubscribeSettled(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range ch {
	}
	if err := errFn(); err != nil {
		t.Fatalf("after cancel: %v, want nil", err)
	}
}

// Unary calls and the invoice mapping: CreateInvoice returns lnd's stored
// invoice; unknown hashes are ErrNotFound.
func TestInvoices(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	info, err := n.Info(ctx)
	if err != nil || info.PubKey != f.pubkey || info.Network != "regtest" {
		t.Fatalf("info %+v, %v", info, err)
	}
	dh := lightning.Hash{1, 2, 3}
	inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1500, DescriptionHash: dh, Expiry: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if inv.AmountMsat != 1500 || inv.DescriptionHash != dh || inv.State != lightning.InvoiceOpen ||
		inv.ExpiresAt.Sub(inv.CreatedAt) != 90*time.Second || inv.Preimage.IsZero() {
		t.Fatalf("invoice %+v", inv)
	}
	if _, err := n.LookupInvoice(ctx, lightning.Hash{9}); !errors.Is(err, lightning.ErrNotFound) {
		t.Fatalf("unknown invoice: %v", err)
	}
	if _, err := n.TrackPayment(ctx, lightning.Hash{9}); !errors.Is(err, lightning.ErrNotFound) {
		t.Fatalf("unknown payment: %v", err)
	}
	f.settle(inv.PaymentHash)
	got, err := n.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil || got.State != lightning.InvoiceSettled || got.SettleIndex != 1 || got.AmountPaidMsat != 1500 {
		t.Fatalf("settled lookup %+v, %v", got, err)
	}
}

// UTXOs: the active channels for the zero hash, with their local and remote
// balances; for a payment, the channel its HTLC left through with the amount
// it carried.
func TestUTXOs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		avail, err := n.UTXOs(ctx, lightning.Hash{})
		if err != nil || len(avail) != 1 || avail[0] != (lightning.UTXO{Outpoint: fakeChannelPoint, AmountMsat: 500_000_000, InboundMsat: 250_000_000}) {
			t.Fatalf("available: %+v, %v", avail, err)
		}
		pr, hash, _ := f.payReq(42_000, time.Hour)
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		used, err := n.UTXOs(ctx, hash)
		if err != nil || len(used) != 1 || used[0] != (lightning.UTXO{Outpoint: fakeChannelPoint, AmountMsat: 42_000}) {
			t.Fatalf("used: %+v, %v", used, err)
		}
		if _, err := n.UTXOs(ctx, lightning.Hash{7}); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("unknown payment: %v, want ErrNotFound", err)
		}
	})
}

// A SUCCEEDED answer whose preimage is missing or does not hash to the
// payment hash is no proof of payment: it is not taken for a success (nor
// stored as one); the payment stays in flight.
func TestSucceededNeedsTheRightPreimage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		for _, bad := range []string{strings.Repeat("11", 32), ""} {
			pr, hash, _ := f.payReq(20_000, time.Hour)
			f.mu.Lock()
			f.payReqs[pr]["preimage"] = bad // what the fake reports on success
			f.mu.Unlock()
			p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err == nil || p.Status == lightning.StatusSucceeded {
				t.Fatalf("preimage %q: pay %+v, %v; want an error and no success", bad, p, err)
			}
			tr, err := f.node(t, db).TrackPayment(fctx(t), hash)
			if err == nil || tr.Status == lightning.StatusSucceeded {
				t.Fatalf("preimage %q: tracked %+v, %v; want an error and no success", bad, tr, err)
			}
		}
	})
}
