package lnd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// The payment request CreateInvoice hands out is what the payer pays, not
// lnd's record of the invoice: it is decoded and must be this node's
// (signed by its key, on its network) for the payment hash lnd answered
// with, the amount and description hash asked (LUD-18: UMA's payer checks
// it), and the expiry asked, issued when lnd's record says. An invoice
// that pays another node, credits another hash (no one), asks another
// amount or expires later than asked (a payment at a stale price) is an
// error, never handed out, and lnd's invoice is canceled.
func TestCreateInvoiceChecksPaymentRequest(t *testing.T) {
	other, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	const amount, expiry = 1_500_000, 90 * time.Second
	dh := lightning.Hash{1, 2, 3}
	for _, c := range []struct {
		name string
		mod  func(r *bolt11.Request, key **secp256k1.PrivateKey) string // a raw payment request, or "" to sign r with key
	}{
		{"garbage", func(*bolt11.Request, **secp256k1.PrivateKey) string { return "lnbcrt1garbage" }},
		{"none", func(*bolt11.Request, **secp256k1.PrivateKey) string { return " " }},
		{"another payment hash", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.PaymentHash[0] ^= 1; return "" }},
		{"another amount", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.AmountMsat++; return "" }},
		{"any amount", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.AmountMsat = 0; return "" }},
		{"another description hash", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.DescriptionHash[31] = 9; return "" }},
		{"a description instead", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.Description = "pay me"; return "" }},
		{"testnet", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.Network = bolt11.Testnet; return "" }},
		{"mainnet", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.Network = bolt11.Mainnet; return "" }},
		{"another node's", func(_ *bolt11.Request, key **secp256k1.PrivateKey) string { *key = other; return "" }},
		{"a longer expiry", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.Expiry = time.Hour; return "" }},
		{"a shorter expiry", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string { r.Expiry = 30 * time.Second; return "" }},
		{"issued an hour later", func(r *bolt11.Request, _ **secp256k1.PrivateKey) string {
			r.Timestamp = r.Timestamp.Add(time.Hour)
			return ""
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLND(t)
			n := f.node(t, storetest.SQLite(t))
			f.mu.Lock()
			f.payRequest = func(r bolt11.Request, key *secp256k1.PrivateKey) string {
				if raw := c.mod(&r, &key); raw != "" {
					return raw
				}
				return fakeSign(t, r, key)
			}
			f.mu.Unlock()
			inv, err := n.CreateInvoice(fctx(t), lightning.InvoiceRequest{AmountMsat: amount, DescriptionHash: dh, Expiry: expiry})
			if err == nil {
				t.Fatalf("CreateInvoice handed out %s", inv.PaymentRequest)
			}
			if !strings.Contains(err.Error(), "payment_request") {
				t.Fatalf("%v: does not name payment_request", err)
			}
			// Handed out to no one, lnd's invoice is canceled: no one
			// who learns it pays it for nothing waiting.
			f.mu.Lock()
			state := f.invoices[len(f.invoices)-1]["state"]
			f.mu.Unlock()
			if state != "CANCELED" {
				t.Fatalf("lnd's invoice after the refusal: %v, want CANCELED", state)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}

	// What lnd issues as asked is handed out as lnd issued it: with an
	// amount or without (the payer's choice), with the expiry asked or
	// lnd's default.
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	for _, req := range []lightning.InvoiceRequest{
		{AmountMsat: amount, DescriptionHash: dh, Expiry: expiry},
		{AmountMsat: 0, DescriptionHash: dh, Expiry: expiry},
		{AmountMsat: lightning.MaxAmountMsat, DescriptionHash: dh},
		{AmountMsat: 1, DescriptionHash: dh, Expiry: 1500 * time.Millisecond}, // whole seconds, rounded up
	} {
		inv, err := n.CreateInvoice(fctx(t), req)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		dec, err := bolt11.Decode(inv.PaymentRequest, bolt11.Regtest)
		if err != nil || dec.PaymentHash != inv.PaymentHash || dec.AmountMsat != req.AmountMsat || dec.DescriptionHash != dh || dec.Destination != f.pubkey {
			t.Fatalf("%+v: handed out %s: %+v, %v", req, inv.PaymentRequest, dec, err)
		}
	}
}

// An invoice is the same however written: case, surrounding space and a
// "lightning:" scheme aside (lightning.SameInvoice; vaspd's bolt11 reads
// it so, and the embedded node pays it). lnd's DecodePayReq and
// SendPaymentV2 read the bare BOLT11 string only: Pay hands lnd the
// invoice as lightning.NormalizeInvoice writes it, or an invoice vaspd
// quoted (a counterparty's "pr" with a trailing newline, a QR code's
// LIGHTNING: URI) would be refused as invalid at payment time.
func TestPayInvoiceHoweverWritten(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		for _, written := range []func(string) string{
			func(pr string) string { return "lightning:" + pr },
			func(pr string) string { return " " + pr + "\n" },
			strings.ToUpper,
			func(pr string) string { return "LIGHTNING:" + strings.ToUpper(pr) },
		} {
			pr, hash, preimage := f.payReq(10_000, time.Hour)
			p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: written(pr), Timeout: 5 * time.Second})
			if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage || p.PaymentHash != hash {
				t.Errorf("%q: %s, %v; want SUCCEEDED", written(pr), p.Status, err)
			}
			// Paying it again, written either way, is that payment.
			for _, again := range []string{pr, written(pr)} {
				p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: again, Timeout: 5 * time.Second})
				if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
					t.Errorf("%q, again as %q: %s, %v; want that payment", written(pr), again, p.Status, err)
				}
			}
		}
		if got := f.sendCount(); got != 4 {
			t.Errorf("lnd received %d sends for 4 invoices", got)
		}

		// A failed payment recorded as written (before Pay normalized
		// invoices) is retried as lnd reads it.
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		if _, err := db.ExecContext(fctx(t), `INSERT INTO lnd_payments (node_pubkey, payment_hash, payment_request,
			destination, amount_msat, max_fee_msat, fee_msat, status, preimage, failure_reason, attempts, created_at, attempted_at)
			VALUES ($1, $2, $3, '', 10000, 1000, 0, 'FAILED', '', 'NO_ROUTE', 1, 1, 1)`,
			f.pubkey, hash.String(), " "+pr+"\n"); err != nil {
			t.Fatal(err)
		}
		if p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil ||
			p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Errorf("retry of a payment recorded with space around its invoice: %s, %v; want SUCCEEDED", p.Status, err)
		}
	})
}
