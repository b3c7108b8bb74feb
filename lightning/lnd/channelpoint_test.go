package lnd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store/storetest"
)

// A channel point becomes a UTXO sent to counterparties (UMA's
// post-transaction callbacks), so it must be one as lnd writes it: the
// funding txid in 64 lowercase hex digits, ':', the output index in
// decimal (a uint32). UTXOs refuses an answer that would report anything
// else, naming channel_point, rather than send garbage or leave the UTXO
// out (a shorter list told as the whole): the callback is retried until
// lnd answers sanely. A malformed point of a channel not reported (an
// inactive one, one the payment did not use) does not matter.
func TestUTXOsChannelPointChecked(t *testing.T) {
	txid := strings.Repeat("7f", 32)
	for _, bad := range []string{
		"7f7f:0", "", txid, txid + ":", ":0", txid + ":-1", txid + ":+1", txid + ":4294967296", txid + ":01",
		txid + ":0:1", txid + ":0 ", " " + txid + ":0", strings.ToUpper(txid) + ":0", txid[:63] + ":0", txid + "0:0",
		strings.Repeat("zz", 32) + ":0", txid + ":1e3", txid + ":0x1", txid + ":١",
	} {
		f := newFakeLND(t)
		n := f.node(t, storetest.SQLite(t))
		ctx := fctx(t)
		pr, hash, _ := f.payReq(42_000, time.Hour)
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		good := txid + ":4294967295"
		f.mu.Lock()
		f.channels = []any{
			map[string]any{"active": true, "channel_point": bad, "chan_id": "123", "local_balance": "500000"},
			map[string]any{"active": true, "channel_point": good, "chan_id": "789", "local_balance": "9"},
		}
		f.mu.Unlock()
		for what, h := range map[string]lightning.Hash{"the node's": {}, "the payment's": hash} {
			if utxos, err := n.UTXOs(ctx, h); err == nil || !strings.Contains(err.Error(), "channel_point") {
				t.Errorf("channel point %q: %s UTXOs %+v, %v; want an error naming channel_point", bad, what, utxos, err)
			}
		}
		// Not reported: no matter.
		f.mu.Lock()
		f.channels = []any{
			map[string]any{"active": false, "channel_point": bad, "chan_id": "456", "local_balance": "7"},
			map[string]any{"active": true, "channel_point": good, "chan_id": "123", "local_balance": "9"},
		}
		f.mu.Unlock()
		if utxos, err := n.UTXOs(ctx, lightning.Hash{}); err != nil || len(utxos) != 1 || utxos[0] != (lightning.UTXO{Outpoint: good, AmountMsat: 9000}) {
			t.Errorf("channel point %q of an inactive channel: the node's UTXOs %+v, %v", bad, utxos, err)
		}
		if utxos, err := n.UTXOs(ctx, hash); err != nil || len(utxos) != 1 || utxos[0] != (lightning.UTXO{Outpoint: good, AmountMsat: 42_000}) {
			t.Errorf("channel point %q of a channel the payment did not use: its UTXOs %+v, %v", bad, utxos, err)
		}
	}
}
