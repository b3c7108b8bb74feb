package lightningtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
)

// testInfo: both nodes report a valid, distinct identity on one network.
func (s *suite) testInfo(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	ai, err := alice.Info(s.ctx(t))
	if err != nil {
		t.Fatalf("alice Info: %v", err)
	}
	bi, err := bob.Info(s.ctx(t))
	if err != nil {
		t.Fatalf("bob Info: %v", err)
	}
	for _, info := range []lightning.NodeInfo{ai, bi} {
		b, err := hex.DecodeString(info.PubKey)
		if err != nil || len(b) != 33 {
			t.Fatalf("pubkey %q is not a 33-byte compressed key in hex", info.PubKey)
		}
		if _, err := secp256k1.ParsePubKey(b); err != nil {
			t.Fatalf("pubkey %q is not on secp256k1: %v", info.PubKey, err)
		}
		if _, err := bolt11.Params(info.Network); err != nil {
			t.Fatalf("network %q: %v", info.Network, err)
		}
	}
	if ai.PubKey == bi.PubKey {
		t.Fatal("alice and bob report the same pubkey")
	}
	if ai.Network != bi.Network {
		t.Fatalf("alice on %s, bob on %s", ai.Network, bi.Network)
	}
}

// testValidation: invoices that cannot be paid as given are refused with a
// typed error before anything is recorded.
func (s *suite) testValidation(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	ctx := s.ctx(t)
	info, err := alice.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	inv := s.invoice(t, bob, s.cfg.AmountMsat)

	// Any other network, including mainnet, signed by a stranger's key.
	stranger, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{bolt11.Mainnet, bolt11.Testnet, bolt11.Regtest, bolt11.Signet} {
		if network == info.Network {
			continue
		}
		hash := sha256.Sum256([]byte(t.Name() + network))
		pr, err := bolt11.Encode(bolt11.Request{
			Network: network, PaymentHash: hash, PaymentAddr: sha256.Sum256(hash[:]),
			AmountMsat: s.cfg.AmountMsat, DescriptionHash: descHash(t, network),
			Timestamp: time.Now(), Expiry: time.Hour,
		}, stranger)
		if err != nil {
			t.Fatal(err)
		}
		_, err = alice.Pay(ctx, s.payReq(pr))
		wantErr(t, "pay a "+network+" invoice", err, lightning.ErrWrongNetwork, lightning.ErrMainnetNotAllowed)
		s.notRecorded(t, alice, hash)
	}

	// Garbage, a broken checksum, and a valid invoice with one character
	// changed (the checksum catches it; a signature check would too).
	broken := []byte(inv.PaymentRequest)
	i := len(broken) - 10
	if broken[i] == 'q' {
		broken[i] = 'p'
	} else {
		broken[i] = 'q'
	}
	for _, pr := range []string{"", "hello", "lnbcrt1invalid", string(broken), inv.PaymentRequest[:len(inv.PaymentRequest)-1]} {
		_, err := alice.Pay(ctx, s.payReq(pr))
		wantErr(t, "pay "+quote(pr), err, lightning.ErrInvalidInvoice)
	}
	s.notRecorded(t, alice, inv.PaymentHash)

	// CreateInvoice refuses an amount below 0 or above 21M BTC, and a
	// request without a description hash.
	for name, req := range map[string]lightning.InvoiceRequest{
		"a negative amount":   {AmountMsat: -1, DescriptionHash: descHash(t, "neg"), Expiry: time.Minute},
		"21M BTC + 1 msat":    {AmountMsat: lightning.MaxAmountMsat + 1, DescriptionHash: descHash(t, "max"), Expiry: time.Minute},
		"no description hash": {AmountMsat: s.cfg.AmountMsat, Expiry: time.Minute},
	} {
		if _, err := bob.CreateInvoice(ctx, req); err == nil {
			t.Fatalf("CreateInvoice with %s succeeded", name)
		}
	}

	// Unknown hashes are ErrNotFound.
	unknown := lightning.Hash(sha256.Sum256([]byte("never issued " + t.Name())))
	if _, err := bob.LookupInvoice(ctx, unknown); !errors.Is(err, lightning.ErrNotFound) {
		t.Fatalf("LookupInvoice(unknown): %v, want ErrNotFound", err)
	}
	s.notRecorded(t, alice, unknown)
}

// notRecorded checks that n has no payment for hash.
func (s *suite) notRecorded(t *testing.T, n lightning.Node, hash lightning.Hash) {
	t.Helper()
	if p, err := n.TrackPayment(s.ctx(t), hash); !errors.Is(err, lightning.ErrNotFound) {
		t.Fatalf("TrackPayment(%s) = %+v, %v; want ErrNotFound (nothing recorded)", hash, p, err)
	}
}

func quote(s string) string {
	if len(s) > 24 {
		s = s[:24] + "…"
	}
	return "\"" + s + "\""
}

// testCreateDecodePaySettle is the main path: bob issues an invoice that
// decodes to what was asked, alice pays it with a proof of payment, bob
// sees it settled, by lookup and on the settled stream.
func (s *suite) testCreateDecodePaySettle(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	ctx := s.ctx(t)
	bi, err := bob.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dh := descHash(t, "uma metadata+payerData")
	const expiry = 10 * time.Minute
	inv, err := bob.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: s.cfg.AmountMsat, DescriptionHash: dh, Expiry: expiry})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	if inv.State != lightning.InvoiceOpen || inv.AmountMsat != s.cfg.AmountMsat || inv.DescriptionHash != dh ||
		inv.SettleIndex != 0 || inv.AmountPaidMsat != 0 || inv.PaymentHash.IsZero() {
		t.Fatalf("new invoice %+v", inv)
	}
	if got := inv.ExpiresAt.Sub(inv.CreatedAt); got != expiry {
		t.Fatalf("ExpiresAt-CreatedAt = %s, want %s", got, expiry)
	}
	if !inv.Preimage.IsZero() && sha256.Sum256(inv.Preimage[:]) != inv.PaymentHash {
		t.Fatal("invoice preimage does not hash to the payment hash")
	}

	// The BOLT11 says the same, signed by bob.
	dec, err := bolt11.Decode(inv.PaymentRequest, bi.Network)
	if err != nil {
		t.Fatalf("decode %s: %v", inv.PaymentRequest, err)
	}
	if dec.Destination != bi.PubKey || dec.PaymentHash != inv.PaymentHash || dec.AmountMsat != s.cfg.AmountMsat ||
		dec.DescriptionHash != dh || dec.Description != "" || dec.Expiry != expiry {
		t.Fatalf("decoded %+v, want payee %s hash %s amount %d dh %s expiry %s",
			dec, bi.PubKey, inv.PaymentHash, s.cfg.AmountMsat, dh, expiry)
	}
	if dec.PaymentAddr.IsZero() {
		t.Fatal("invoice has no payment secret")
	}
	for _, bit := range []int{9, 15} { // var_onion_optin, payment_secret (optional or required)
		if !slices.Contains(dec.Features, bit) && !slices.Contains(dec.Features, bit-1) {
			t.Fatalf("invoice features %v lack bit %d/%d", dec.Features, bit-1, bit)
		}
	}
	if !dec.Timestamp.Equal(inv.CreatedAt.Truncate(time.Second)) {
		t.Fatalf("invoice timestamp %s, CreatedAt %s", dec.Timestamp, inv.CreatedAt)
	}
	got, err := bob.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil {
		t.Fatalf("LookupInvoice: %v", err)
	}
	if got.PaymentRequest != inv.PaymentRequest || got.State != lightning.InvoiceOpen || got.DescriptionHash != dh {
		t.Fatalf("looked up %+v, created %+v", got, inv)
	}

	aliceBefore, haveBalances := s.balance(t, alice)
	bobBefore, _ := s.balance(t, bob)

	p := s.pay(t, alice, inv.PaymentRequest)
	if p.PaymentHash != inv.PaymentHash || p.AmountMsat != s.cfg.AmountMsat || p.Destination != bi.PubKey {
		t.Fatalf("payment %+v", p)
	}
	if p.FeeMsat < 0 || p.FeeMsat > s.cfg.MaxFeeMsat {
		t.Fatalf("fee %d msat outside [0, %d]", p.FeeMsat, s.cfg.MaxFeeMsat)
	}
	tracked, err := alice.TrackPayment(ctx, inv.PaymentHash)
	if err != nil {
		t.Fatalf("TrackPayment: %v", err)
	}
	if tracked.Status != lightning.StatusSucceeded || tracked.Preimage != p.Preimage || tracked.AmountMsat != p.AmountMsat {
		t.Fatalf("tracked %+v, paid %+v", tracked, p)
	}

	settled := s.waitSettled(t, bob, inv.PaymentHash)
	if settled.AmountPaidMsat != s.cfg.AmountMsat || settled.SettleIndex == 0 || settled.SettledAt.IsZero() {
		t.Fatalf("settled invoice %+v", settled)
	}
	if !settled.Preimage.IsZero() && settled.Preimage != p.Preimage {
		t.Fatal("payer and payee disagree on the preimage")
	}
	ev := s.settledEvent(t, bob, settled.SettleIndex-1, inv.PaymentHash)
	if ev.SettleIndex != settled.SettleIndex || ev.AmountPaidMsat != s.cfg.AmountMsat || ev.DescriptionHash != dh {
		t.Fatalf("settled event %+v, lookup %+v", ev, settled)
	}

	if haveBalances {
		if got := s.mustBalance(t, alice); got != aliceBefore-p.AmountMsat-p.FeeMsat {
			t.Fatalf("alice balance %d, want %d - %d - fee %d", got, aliceBefore, p.AmountMsat, p.FeeMsat)
		}
		if got := s.mustBalance(t, bob); got != bobBefore+p.AmountMsat {
			t.Fatalf("bob balance %d, want %d + %d", got, bobBefore, p.AmountMsat)
		}
	}
}

func (s *suite) mustBalance(t *testing.T, n lightning.Node) int64 {
	t.Helper()
	b, _ := s.balance(t, n)
	return b
}

// testZeroAmount: an invoice without an amount needs one from the payer,
// and is settled for exactly that.
func (s *suite) testZeroAmount(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	inv := s.invoice(t, bob, 0)
	if inv.AmountMsat != 0 {
		t.Fatalf("zero-amount invoice has amount %d", inv.AmountMsat)
	}
	_, err := alice.Pay(s.ctx(t), s.payReq(inv.PaymentRequest))
	wantErr(t, "pay a zero-amount invoice without an amount", err, lightning.ErrAmountMismatch)
	tooMuch := s.payReq(inv.PaymentRequest)
	tooMuch.AmountMsat = lightning.MaxAmountMsat + 1
	_, err = alice.Pay(s.ctx(t), tooMuch)
	wantErr(t, "pay a zero-amount invoice 21M BTC + 1 msat", err, lightning.ErrAmountMismatch)
	s.notRecorded(t, alice, inv.PaymentHash)

	amount := s.cfg.AmountMsat + 1000
	req := s.payReq(inv.PaymentRequest)
	req.AmountMsat = amount
	p, err := alice.Pay(s.ctx(t), req)
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	p = s.final(t, alice, p)
	checkSucceeded(t, p)
	if p.AmountMsat != amount {
		t.Fatalf("paid %d msat, asked %d", p.AmountMsat, amount)
	}
	if got := s.waitSettled(t, bob, inv.PaymentHash); got.AmountPaidMsat != amount {
		t.Fatalf("bob was paid %d msat, want %d", got.AmountPaidMsat, amount)
	}
}

// testAmountMismatch: an amount that contradicts a fixed-amount invoice is
// refused, and the invoice stays payable.
func (s *suite) testAmountMismatch(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	inv := s.invoice(t, bob, s.cfg.AmountMsat)
	for _, amount := range []int64{s.cfg.AmountMsat + 1000, s.cfg.AmountMsat - 1000} {
		req := s.payReq(inv.PaymentRequest)
		req.AmountMsat = amount
		_, err := alice.Pay(s.ctx(t), req)
		wantErr(t, "pay a different amount", err, lightning.ErrAmountMismatch)
	}
	s.notRecorded(t, alice, inv.PaymentHash)
	if got, err := bob.LookupInvoice(s.ctx(t), inv.PaymentHash); err != nil || got.State != lightning.InvoiceOpen {
		t.Fatalf("invoice after refused payments: %+v, %v; want OPEN", got, err)
	}
	// The exact amount, given explicitly, is fine.
	req := s.payReq(inv.PaymentRequest)
	req.AmountMsat = s.cfg.AmountMsat
	p, err := alice.Pay(s.ctx(t), req)
	if err != nil {
		t.Fatalf("Pay with the invoice's own amount: %v", err)
	}
	checkSucceeded(t, s.final(t, alice, p))
}

// testExpiry: an invoice carries its expiry, and once it passes the invoice
// cannot be paid.
func (s *suite) testExpiry(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	ctx := s.ctx(t)
	inv, err := bob.CreateInvoice(ctx, lightning.InvoiceRequest{
		AmountMsat: s.cfg.AmountMsat, DescriptionHash: descHash(t, "short"), Expiry: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	if got := inv.ExpiresAt.Sub(inv.CreatedAt); got != 2*time.Second {
		t.Fatalf("expiry %s, want 2s", got)
	}
	dec, err := bolt11.Decode(inv.PaymentRequest, "")
	if err != nil {
		t.Fatal(err)
	}
	if dec.Expiry != 2*time.Second || !dec.ExpiresAt().Equal(inv.ExpiresAt) {
		t.Fatalf("BOLT11 expiry %s (at %s), invoice expires at %s", dec.Expiry, dec.ExpiresAt(), inv.ExpiresAt)
	}

	s.h.Wait(t, 3*time.Second)
	_, err = alice.Pay(ctx, s.payReq(inv.PaymentRequest))
	wantErr(t, "pay an expired invoice", err, lightning.ErrInvoiceExpired)
	s.notRecorded(t, alice, inv.PaymentHash)
	got, err := bob.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil {
		t.Fatalf("LookupInvoice: %v", err)
	}
	if got.State == lightning.InvoiceSettled || got.AmountPaidMsat != 0 {
		t.Fatalf("expired invoice %+v was paid", got)
	}

	// The default expiry applies when none is asked for.
	def, err := bob.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: s.cfg.AmountMsat, DescriptionHash: descHash(t, "default")})
	if err != nil {
		t.Fatalf("CreateInvoice without expiry: %v", err)
	}
	if d := def.ExpiresAt.Sub(def.CreatedAt); d < time.Hour {
		t.Fatalf("default expiry %s, want at least an hour", d)
	}
}
