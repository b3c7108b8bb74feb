package lnd_test

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store/storetest"
)

// A settled invoice whose settle_index does not parse has no place in the
// order of settlements, as one without a settle index: it is logged at
// ERROR in one bounded line (payment hash, lnd's text) and passed over,
// the cursor where it was, so it neither stops the stream (lnd would
// replay it on every resubscription and no settlement after it would ever
// be delivered) nor is delivered. The caller's sweep looks it up by hash,
// which fails the same way until lnd answers sanely, then credits it: once,
// as the stream never delivered it. From the backlog (cursor 0) and live.
func TestSettledStreamBadSettleIndex(t *testing.T) {
	for _, bad := range []string{"-2", "2x", "18446744073709551616", strings.Repeat("9", 5000)} {
		for _, live := range []bool{false, true} {
			name := "backlog"
			if live {
				name = "live"
			}
			t.Run(name+"/"+bad[:min(len(bad), 24)], func(t *testing.T) {
				f := newFakeLND(t)
				var log syncLog
				n := f.node(t, storetest.SQLite(t), func(o *lnd.Options) {
					o.Logger = slog.New(slog.NewJSONHandler(&log, nil))
				})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
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
				badHash := f.addInvoice(map[string]any{"value_msat": "2000", "expiry": "600"})
				f.mu.Lock()
				f.answerAs = map[string]map[string]any{b64(badHash[:]): {"settle_index": bad}}
				f.mu.Unlock()
				f.settle(badHash) // settle index 2, as lnd keeps it
				good2 := f.addSettled(t, 3000)
				if !live {
					subscribe()
				}
				next := func(what string, hash lightning.Hash, index uint64) {
					t.Helper()
					select {
					case inv, ok := <-ch:
						if !ok {
							t.Fatalf("%s: the stream ended: %v", what, wait())
						}
						if inv.PaymentHash != hash || inv.SettleIndex != index {
							t.Fatalf("%s: %s at %d, want %s at %d", what, inv.PaymentHash, inv.SettleIndex, hash, index)
						}
					case <-ctx.Done():
						t.Fatalf("%s never delivered: the bad settle index holds up the stream", what)
					}
				}
				next("the settlement before", good1, 1)
				next("the settlement after", good2, 3)
				next("a later settlement", f.addSettled(t, 4000), 4)

				var entry string
				for _, line := range strings.Split(log.String(), "\n") {
					if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, badHash.String()) {
						entry = line
					}
				}
				if entry == "" || !strings.Contains(entry, bad[:min(len(bad), 20)]) || len(entry) > 1024 {
					t.Errorf("the bad settlement was not logged at ERROR in one bounded line with its hash and lnd's settle_index:\n%.2000s", log.String())
				}
				if strings.Contains(log.String(), hex.EncodeToString(f.macaroon)) {
					t.Errorf("the log shows the macaroon")
				}
				f.mu.Lock()
				subs := len(f.subs)
				f.mu.Unlock()
				if subs != 1 {
					t.Errorf("%d subscriptions, want 1: the bad settle index broke the stream", subs)
				}

				// The sweep's lookup: an error until lnd answers sanely,
				// then the settlement, at its index.
				if inv, err := n.LookupInvoice(ctx, badHash); err == nil || !strings.Contains(err.Error(), "settle_index") {
					t.Errorf("lookup while lnd garbles it: %+v, %v; want an error naming settle_index", inv, err)
				}
				f.mu.Lock()
				f.answerAs = nil
				f.mu.Unlock()
				if inv, err := n.LookupInvoice(ctx, badHash); err != nil || inv.State != lightning.InvoiceSettled || inv.SettleIndex != 2 || inv.AmountPaidMsat != 2000 {
					t.Errorf("lookup once lnd answers sanely: %+v, %v", inv, err)
				}
			})
		}
	}
}
