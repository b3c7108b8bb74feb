package lightningtest

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// testUTXOs: what UTXOs reports, where the backend can tell, is well formed:
// "txid:index" outpoints with non-negative amounts; unknown hashes are
// ErrNotFound or empty. A payment's UTXOs carry no inbound capacity; the
// payee's channels' inbound capacity falls by what it received.
func (s *suite) testUTXOs(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	ctx := s.ctx(t)
	avail, err := alice.UTXOs(ctx, lightning.Hash{})
	if err != nil {
		t.Fatalf("UTXOs(zero): %v", err)
	}
	checkUTXOs(t, "available", avail)
	inboundBefore := s.inbound(t, bob)

	inv := s.invoice(t, bob, s.cfg.AmountMsat)
	p := s.pay(t, alice, inv.PaymentRequest)
	used, err := alice.UTXOs(ctx, p.PaymentHash)
	if err != nil {
		t.Fatalf("UTXOs(payment): %v", err)
	}
	checkUTXOs(t, "payment", used)
	var sum int64
	for _, u := range used {
		sum += u.AmountMsat
	}
	if len(used) > 0 && sum < p.AmountMsat {
		t.Fatalf("payment of %d msat used UTXOs worth %d msat", p.AmountMsat, sum)
	}
	received, err := bob.UTXOs(ctx, inv.PaymentHash)
	if err != nil && !errors.Is(err, lightning.ErrNotFound) {
		t.Fatalf("UTXOs(received): %v", err)
	}
	checkUTXOs(t, "received", received)
	for _, u := range append(used, received...) {
		if u.InboundMsat != 0 {
			t.Fatalf("a payment's UTXO %+v has an inbound capacity", u)
		}
	}
	// lnd reports a payment settled a moment before the channels'
	// commitments are updated, and its balances in whole satoshis.
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := s.inbound(t, bob)
		if fell := inboundBefore - after; fell >= p.AmountMsat-999 && fell <= p.AmountMsat+999 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the payee's inbound capacity went %d → %d msat after receiving %d msat", inboundBefore, after, p.AmountMsat)
		}
		time.Sleep(100 * time.Millisecond)
	}

	unknown := descHash(t, "unknown")
	if u, err := alice.UTXOs(ctx, unknown); err != nil && !errors.Is(err, lightning.ErrNotFound) || err == nil && len(u) != 0 {
		t.Fatalf("UTXOs(unknown) = %v, %v; want ErrNotFound or nothing", u, err)
	}
}

// inbound is what n can receive over its channels, as UTXOs of the zero
// hash report it.
func (s *suite) inbound(t *testing.T, n lightning.Node) int64 {
	t.Helper()
	chans, err := n.UTXOs(s.ctx(t), lightning.Hash{})
	if err != nil {
		t.Fatalf("UTXOs(zero): %v", err)
	}
	checkUTXOs(t, "channel", chans)
	var sum int64
	for _, c := range chans {
		sum += c.InboundMsat
	}
	return sum
}

func checkUTXOs(t *testing.T, what string, us []lightning.UTXO) {
	t.Helper()
	for _, u := range us {
		txid, idx, ok := strings.Cut(u.Outpoint, ":")
		b, err := hex.DecodeString(txid)
		if !ok || err != nil || len(b) != 32 {
			t.Fatalf("%s UTXO outpoint %q is not txid:index", what, u.Outpoint)
		}
		if _, err := strconv.ParseUint(idx, 10, 32); err != nil {
			t.Fatalf("%s UTXO outpoint %q has a bad index", what, u.Outpoint)
		}
		if u.AmountMsat < 0 || u.InboundMsat < 0 {
			t.Fatalf("%s UTXO %q has amount %d, inbound %d", what, u.Outpoint, u.AmountMsat, u.InboundMsat)
		}
	}
}
