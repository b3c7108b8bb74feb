package lnd_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// The node must be on the network vaspd is configured for
// (Options.Network): a regtest vaspd pointed at a mainnet lnd, or a
// mainnet vaspd at a test node, is refused by Info, and so by every call
// that needs the node's identity, before anything reaches lnd. lnd's
// GetInfo names its network as lnd's config does (testnet4 for the fourth
// testnet); vaspd names it by its invoices' prefix, so testnet4 is testnet
// (lntb). A GetInfo answer lnd cannot give — no chain, two, another
// chain, an unknown network, an alias longer than lnd allows — is refused.
func TestInfoNetwork(t *testing.T) {
	chain := func(network string) []any {
		return []any{map[string]any{"chain": "bitcoin", "network": network}}
	}
	for _, c := range []struct {
		name, configured string
		info             map[string]any
		want             string // network reported; "" for a refusal
		other            bool   // refused as another network (lnd.ErrOtherNetwork)
	}{
		{"regtest", "regtest", nil, "regtest", false},
		{"mainnet node, regtest configured", "regtest", map[string]any{"chains": chain("mainnet")}, "", true},
		{"regtest node, mainnet configured", "mainnet", nil, "", true},
		{"testnet node, signet configured", "signet", map[string]any{"chains": chain("testnet")}, "", true},
		{"mainnet", "mainnet", map[string]any{"chains": chain("mainnet")}, "mainnet", false},
		{"testnet4 is testnet", "testnet", map[string]any{"chains": chain("testnet4")}, "testnet", false},
		{"signet", "signet", map[string]any{"chains": chain("signet")}, "signet", false},
		{"no chain", "regtest", map[string]any{"chains": []any{}}, "", false},
		{"no chains field", "regtest", map[string]any{"chains": nil}, "", false},
		{"two chains", "regtest", map[string]any{"chains": append(chain("regtest"), chain("mainnet")...)}, "", false},
		{"another chain", "regtest", map[string]any{"chains": []any{map[string]any{"chain": "litecoin", "network": "regtest"}}}, "", false},
		{"unknown network", "regtest", map[string]any{"chains": chain("bogusnet")}, "", false},
		{"alias longer than lnd allows", "regtest", map[string]any{"alias": strings.Repeat("a", 33)}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLND(t)
			f.info = c.info
			n := f.node(t, storetest.SQLite(t), func(o *lnd.Options) { o.Network = c.configured })
			info, err := n.Info(fctx(t))
			if c.want != "" {
				if err != nil || info.Network != c.want || info.PubKey != f.pubkey {
					t.Fatalf("info %+v, %v; want network %s", info, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("info %+v; want a refusal", info)
			}
			if errors.Is(err, lnd.ErrOtherNetwork) != c.other {
				t.Fatalf("%v: errors.Is(ErrOtherNetwork) = %t, want %t", err, !c.other, c.other)
			}
			if c.other && !strings.Contains(err.Error(), c.configured) {
				t.Fatalf("%v does not name the configured network %s", err, c.configured)
			}
		})
	}
}

// On another network nothing is created, paid or recorded: CreateInvoice,
// Pay and TrackPayment are refused before anything reaches lnd but the
// GetInfo that tells.
func TestOtherNetworkRefusesEverything(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db, func(o *lnd.Options) { o.Network = "mainnet" })
		ctx := fctx(t)
		pr, hash, _ := f.payReq(50_000, time.Hour)
		if _, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: lightning.Hash{1}, Expiry: time.Hour}); !errors.Is(err, lnd.ErrOtherNetwork) {
			t.Fatalf("CreateInvoice: %v, want ErrOtherNetwork", err)
		}
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: time.Second}); !errors.Is(err, lnd.ErrOtherNetwork) {
			t.Fatalf("Pay: %v, want ErrOtherNetwork", err)
		}
		if _, err := n.TrackPayment(ctx, hash); !errors.Is(err, lnd.ErrOtherNetwork) {
			t.Fatalf("TrackPayment: %v, want ErrOtherNetwork", err)
		}
		f.mu.Lock()
		invoices, sends := len(f.invoices), len(f.sends)
		f.mu.Unlock()
		if invoices != 0 || sends != 0 {
			t.Fatalf("%d invoices added and %d payments sent on another network", invoices, sends)
		}
		var records int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM lnd_payments`).Scan(&records); err != nil || records != 0 {
			t.Fatalf("%d payment records (%v)", records, err)
		}
	})
}
