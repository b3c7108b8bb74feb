package lnd_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store/storetest"
)

// Every amount lnd reports is checked before it reaches the caller (and
// so the ledger): within 0..lightning.MaxAmountMsat and consistent with
// its satoshi twin where lnd sends both. A bogus or hostile answer (a
// compromised proxy, a bug) is an error from the call that got it, naming
// the field and never the macaroon; never a clamped value.

var (
	overMax    = strconv.FormatInt(lightning.MaxAmountMsat+1, 10)
	maxMsat    = strconv.FormatInt(lightning.MaxAmountMsat, 10)
	overMaxSat = strconv.FormatInt(lightning.MaxAmountMsat/1000+1, 10)
)

// wantAmountError checks that err is an error that names field and not
// the macaroon.
func wantAmountError(t *testing.T, f *fakeLND, what string, err error, field string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error; want one naming %s", what, field)
		return
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("%s: error %q does not name %s", what, err, field)
	}
	if strings.Contains(err.Error(), hex.EncodeToString(f.macaroon)) || strings.Contains(err.Error(), string(f.macaroon[3:])) {
		t.Errorf("%s: error %q shows the macaroon", what, err)
	}
}

func TestInvoiceAmountsChecked(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	settled := func(m map[string]any) map[string]any {
		m["state"], m["settle_index"], m["settle_date"] = "SETTLED", "7", strconv.FormatInt(time.Now().Unix(), 10)
		return m
	}
	for _, c := range []struct {
		name, field string
		inv         map[string]any
	}{
		{"negative amount", "value_msat", map[string]any{"value_msat": "-1000"}},
		{"amount above 21M BTC", "value_msat", map[string]any{"value_msat": overMax}},
		{"negative amount paid", "amt_paid_msat", settled(map[string]any{"value_msat": "1000", "amt_paid_msat": "-1"})},
		{"amount paid above 21M BTC", "amt_paid_msat", settled(map[string]any{"value_msat": "1000", "amt_paid_msat": overMax})},
		{"amount paid above 21M BTC, open", "amt_paid_msat", map[string]any{"value_msat": "1000", "amt_paid_msat": overMax}},
		{"value disagrees with value_msat", "value", map[string]any{"value_msat": "5000", "value": "4"}},
		{"amt_paid_sat disagrees with amt_paid_msat", "amt_paid_sat",
			settled(map[string]any{"value_msat": "1000", "amt_paid_msat": "1000", "amt_paid_sat": "900"})},
		{"settled for nothing", "amt_paid_msat", settled(map[string]any{"value_msat": "1000", "amt_paid_msat": "0", "amt_paid_sat": "0"})},
	} {
		h := f.addInvoice(c.inv)
		inv, err := n.LookupInvoice(ctx, h)
		wantAmountError(t, f, c.name, err, c.field)
		if err == nil {
			t.Logf("%s: got %+v", c.name, inv)
		}
	}
	// The bounds themselves are fine.
	h := f.addInvoice(settled(map[string]any{"value_msat": maxMsat, "amt_paid_msat": maxMsat}))
	if inv, err := n.LookupInvoice(ctx, h); err != nil || inv.AmountMsat != lightning.MaxAmountMsat || inv.AmountPaidMsat != lightning.MaxAmountMsat {
		t.Errorf("an invoice of exactly 21M BTC paid in full: %+v, %v", inv, err)
	}
	h = f.addInvoice(settled(map[string]any{"value_msat": "1500", "amt_paid_msat": "1999"}))
	if inv, err := n.LookupInvoice(ctx, h); err != nil || inv.AmountMsat != 1500 || inv.AmountPaidMsat != 1999 {
		t.Errorf("an invoice of 1500 msat (1 sat) paid 1999 msat: %+v, %v", inv, err)
	}

	// CreateInvoice returns the invoice as lnd stored it: checked too.
	f.mu.Lock()
	f.invoiceExtra = map[string]any{"value_msat": overMax}
	f.mu.Unlock()
	_, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: lightning.Hash{7}, Expiry: time.Hour})
	wantAmountError(t, f, "CreateInvoice answered with an amount above 21M BTC", err, "value_msat")
}

// syncLog is a log the subscription's goroutines write to.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A settled invoice whose amounts are out of range neither ends the
// settlement stream nor holds up the settlements after it (lnd replays it
// on every resubscription, so failing the stream over it would stall it
// for good): it is not delivered, it is logged at ERROR with its payment
// hash and settle index, and the stream goes on. The caller's sweep looks
// it up by hash, which fails the same way until lnd answers sanely.
// Both from the backlog (cursor 0) and live.
func TestSettledStreamBadAmount(t *testing.T) {
	for _, live := range []bool{false, true} {
		name := "backlog"
		if live {
			name = "live"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeLND(t)
			var log syncLog
			n := f.node(t, storetest.SQLite(t), func(o *lnd.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(&log, nil))
			})
			ctx := fctx(t)
			var ch <-chan lightning.Invoice
			var wait func() error
			subscribe := func() {
				var err error
				if ch, wait, err = n.SubscribeSettled(ctx, 0); err != nil {
					t.Fatal(err)
				}
			}
			if live {
				subscribe()
			}
			good1 := f.addSettled(t, 1000)
			bad := f.addInvoice(map[string]any{"value_msat": "2000", "expiry": "600"})
			f.settlePaid(bad, lightning.MaxAmountMsat+1)
			good2 := f.addSettled(t, 3000)
			if !live {
				subscribe()
			}
			for i, want := range []struct {
				hash  lightning.Hash
				index uint64
			}{{good1, 1}, {good2, 3}} {
				select {
				case inv, ok := <-ch:
					if !ok {
						t.Fatalf("the stream ended: %v", wait())
					}
					if inv.PaymentHash != want.hash || inv.SettleIndex != want.index {
						t.Fatalf("event %d: %s at %d, want %s at %d", i, inv.PaymentHash, inv.SettleIndex, want.hash, want.index)
					}
				case <-ctx.Done():
					t.Fatalf("event %d never delivered: the bad settlement holds up the stream", i)
				}
			}
			logged := log.String()
			if !strings.Contains(logged, `"level":"ERROR"`) || !strings.Contains(logged, bad.String()) || !strings.Contains(logged, "amt_paid_msat") {
				t.Errorf("the skipped settlement was not logged at ERROR with its hash and field:\n%s", logged)
			}
			if strings.Contains(logged, hex.EncodeToString(f.macaroon)) {
				t.Errorf("the log shows the macaroon")
			}
			// Later settlements keep coming.
			good3 := f.addSettled(t, 4000)
			select {
			case inv := <-ch:
				if inv.PaymentHash != good3 || inv.SettleIndex != 4 {
					t.Fatalf("after the bad one: %+v", inv)
				}
			case <-ctx.Done():
				t.Fatal("a settlement after the bad one was never delivered")
			}
		})
	}
}

// The amounts of an outgoing payment (value, fee), as SendPaymentV2 and
// TrackPaymentV2 report them, are checked: Pay and TrackPayment fail, and
// nothing is stored as final.
func TestPaymentAmountsChecked(t *testing.T) {
	for _, c := range []struct {
		name, field string
		extra       map[string]any
	}{
		{"fee above 21M BTC", "fee_msat", map[string]any{"fee_msat": overMax}},
		{"negative fee", "fee_msat", map[string]any{"fee_msat": "-1"}},
		{"fee_sat disagrees", "fee_sat", map[string]any{"fee_msat": "1000", "fee_sat": "7"}},
		{"negative value", "value_msat", map[string]any{"value_msat": "-5", "value_sat": "0"}},
		{"value above 21M BTC", "value_msat", map[string]any{"value_msat": overMax, "value_sat": overMaxSat}},
		{"value_sat disagrees", "value_sat", map[string]any{"value_sat": "9"}},
		{"value not the invoice's", "value_msat", map[string]any{"value_msat": "2000000", "value_sat": "2000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLND(t)
			n := f.node(t, storetest.SQLite(t))
			ctx := fctx(t)
			f.mu.Lock()
			f.paymentExtra = c.extra
			f.mu.Unlock()
			pr, hash, _ := f.payReq(1_000_000, time.Hour)
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			wantAmountError(t, f, "Pay", err, c.field)
			if err == nil {
				t.Logf("paid: %+v", p)
			}
			p, err = n.TrackPayment(ctx, hash)
			wantAmountError(t, f, "TrackPayment", err, c.field)
			if err == nil {
				t.Logf("tracked: %+v", p)
			}
			// Once lnd answers sanely, the payment is what it says.
			f.mu.Lock()
			f.paymentExtra = nil
			for k := range c.extra {
				delete(f.payments[hash.String()], k)
			}
			f.payments[hash.String()]["fee_msat"] = "1000"
			f.payments[hash.String()]["value_msat"] = "1000000"
			f.mu.Unlock()
			if p, err := n.TrackPayment(ctx, hash); err != nil || p.Status != lightning.StatusSucceeded || p.FeeMsat != 1000 || p.AmountMsat != 1_000_000 {
				t.Fatalf("tracked once lnd answers sanely: %+v, %v", p, err)
			}
		})
	}
}

// DecodePayReq's amount is checked (and its satoshi twin agrees): an
// invoice lnd decodes to an impossible amount is ErrInvalidInvoice, and
// nothing is sent.
func TestDecodeAmountChecked(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	for name, fields := range map[string]map[string]any{
		"negative":                  {"num_msat": "-1000", "num_satoshis": "-1"},
		"num_satoshis disagrees":    {"num_msat": "1000", "num_satoshis": "2"},
		"num_satoshis out of range": {"num_msat": "1000", "num_satoshis": overMaxSat},
	} {
		pr, _, _ := f.payReq(1000, time.Hour)
		f.mu.Lock()
		for k, v := range fields {
			f.payReqs[pr][k] = v
		}
		f.mu.Unlock()
		_, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Errorf("%s: %v, want ErrInvalidInvoice", name, err)
		}
	}
	if f.sendCount() != 0 {
		t.Fatalf("%d payments reached lnd; none should have", f.sendCount())
	}
}

// The channels' balances and a payment's HTLC amounts, which UTXOs
// reports for compliance, are checked.
func TestUTXOAmountsChecked(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	ctx := fctx(t)
	for name, bal := range map[string]string{"negative": "-1", "above 21M BTC": overMaxSat} {
		for _, field := range []string{"local_balance", "remote_balance"} {
			f.mu.Lock()
			f.channels = []any{map[string]any{"active": true, "channel_point": fakeChannelPoint, "chan_id": "123", "local_balance": "1", field: bal}}
			f.mu.Unlock()
			_, err := n.UTXOs(ctx, lightning.Hash{})
			wantAmountError(t, f, field+" "+name, err, field)
		}
	}
	f.mu.Lock()
	f.channels = nil
	f.mu.Unlock()

	pr, hash, _ := f.payReq(1000, time.Hour)
	if p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
		t.Fatalf("pay: %+v, %v", p, err)
	}
	for name, htlcs := range map[string][]string{
		"negative":                  {"-1"},
		"above 21M BTC":             {overMax},
		"together above 21M BTC":    {maxMsat, "1"},
		"together past int64's end": {maxMsat, maxMsat, maxMsat, maxMsat, maxMsat},
	} {
		var list []any
		for _, amt := range htlcs {
			list = append(list, map[string]any{"status": "SUCCEEDED", "resolve_time_ns": "1",
				"route": map[string]any{"total_amt_msat": amt, "hops": []any{map[string]any{"chan_id": "123"}}}})
		}
		f.mu.Lock()
		f.payments[hash.String()]["htlcs"] = list
		f.mu.Unlock()
		_, err := n.UTXOs(ctx, hash)
		wantAmountError(t, f, "HTLCs "+name, err, "total_amt_msat")
	}
}
