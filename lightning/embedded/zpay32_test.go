package embedded_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestInvoicesDecodeWithZpay32: what the embedded node issues, lnd's own
// decoder reads as the same invoice, with lnd's feature bits.
func TestInvoicesDecodeWithZpay32(t *testing.T) {
	n, err := embedded.Open(testCtx(t), storetest.SQLite(t), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, amount := range []int64{0, 1, 1000, 21_000_000, 123_456_789_000} {
		dh := lightning.Hash(sha256.Sum256([]byte("metadata+payerData")))
		inv, err := n.CreateInvoice(testCtx(t), lightning.InvoiceRequest{AmountMsat: amount, DescriptionHash: dh, Expiry: 600 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ours, err := bolt11.Decode(inv.PaymentRequest, bolt11.Regtest)
		if err != nil {
			t.Fatal(err)
		}
		zi, err := zpay32.Decode(inv.PaymentRequest, &chaincfg.RegressionNetParams)
		if err != nil {
			t.Fatalf("zpay32 refuses %s: %v", inv.PaymentRequest, err)
		}
		if got := hex.EncodeToString(zi.Destination.SerializeCompressed()); got != n.PubKey() {
			t.Fatalf("zpay32 payee %s, node %s", got, n.PubKey())
		}
		if *zi.PaymentHash != inv.PaymentHash || *zi.DescriptionHash != dh || zi.Description != nil {
			t.Fatal("zpay32 reads another payment hash or description hash")
		}
		switch {
		case amount == 0 && zi.MilliSat != nil:
			t.Fatalf("zero-amount invoice has amount %d for zpay32", *zi.MilliSat)
		case amount != 0 && (zi.MilliSat == nil || int64(*zi.MilliSat) != amount):
			t.Fatalf("zpay32 amount %v, want %d", zi.MilliSat, amount)
		}
		if zi.Expiry() != 600*time.Second || zi.MinFinalCLTVExpiry() != bolt11.DefaultMinFinalCLTVExpiry {
			t.Fatalf("zpay32 expiry %s cltv %d", zi.Expiry(), zi.MinFinalCLTVExpiry())
		}
		if !zi.Timestamp.Equal(inv.CreatedAt) {
			t.Fatalf("zpay32 timestamp %s, invoice created %s", zi.Timestamp, inv.CreatedAt)
		}
		secret := zi.PaymentAddr.UnwrapOr([32]byte{})
		if secret == [32]byte{} || secret != ours.PaymentAddr {
			t.Fatal("payment secret missing or read differently")
		}
		for _, bit := range []lnwire.FeatureBit{lnwire.TLVOnionPayloadRequired, lnwire.PaymentAddrRequired, lnwire.MPPOptional} {
			if !zi.Features.IsSet(bit) {
				t.Fatalf("feature %d not set", bit)
			}
		}
		if len(zi.RouteHints) != 0 || zi.FallbackAddr != nil {
			t.Fatal("unexpected route hints or fallback address")
		}
	}
}

// TestZpay32InvoicesDecodeWithOurs: invoices made and signed by lnd's
// encoder, with lnd's signer, decode with ours to the same fields.
func TestZpay32InvoicesDecodeWithOurs(t *testing.T) {
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		return ecdsa.SignCompact(priv, chainhash.HashB(msg), true), nil
	}}
	hash := sha256.Sum256([]byte("preimage"))
	dh := sha256.Sum256([]byte("description"))
	secret := sha256.Sum256([]byte("secret"))
	ts := time.Unix(1_763_800_000, 0)
	raw := lnwire.NewRawFeatureVector(lnwire.TLVOnionPayloadRequired, lnwire.PaymentAddrRequired)
	for _, tc := range []struct {
		network string
		params  *chaincfg.Params
		amount  int64
	}{
		{bolt11.Regtest, &chaincfg.RegressionNetParams, 21_000_000},
		{bolt11.Testnet, &chaincfg.TestNet3Params, 0},
		{bolt11.Signet, &chaincfg.SigNetParams, 1},
		{bolt11.Mainnet, &chaincfg.MainNetParams, 2_500_000_000},
	} {
		opts := []func(*zpay32.Invoice){
			zpay32.DescriptionHash(dh), zpay32.Expiry(90 * time.Second), zpay32.CLTVExpiry(40),
			zpay32.PaymentAddr(secret), zpay32.Features(lnwire.NewFeatureVector(raw, lnwire.Features)),
		}
		if tc.amount > 0 {
			opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(tc.amount)))
		}
		zi, err := zpay32.NewInvoice(tc.params, hash, ts, opts...)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := zi.Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := bolt11.Decode(pr, tc.network)
		if err != nil {
			t.Fatalf("%s: ours refuses %s: %v", tc.network, pr, err)
		}
		if inv.Destination != hex.EncodeToString(priv.PubKey().SerializeCompressed()) || inv.PaymentHash != hash ||
			inv.DescriptionHash != dh || inv.PaymentAddr != secret || inv.AmountMsat != tc.amount ||
			inv.Expiry != 90*time.Second || inv.MinFinalCLTVExpiry != 40 || !inv.Timestamp.Equal(ts) ||
			len(inv.Features) != 2 || inv.Features[0] != 8 || inv.Features[1] != 14 {
			t.Fatalf("%s: decoded %+v", tc.network, inv)
		}
		// One character changed: refused (bech32 checksum), or at least
		// never verified as the same payee.
		b := []byte(pr)
		i := len(b) - 20
		b[i] = map[bool]byte{true: 'q', false: 'p'}[b[i] != 'q']
		if bad, err := bolt11.Decode(string(b), tc.network); err == nil && bad.Destination == inv.Destination {
			t.Fatalf("%s: tampered invoice still verifies for the same payee", tc.network)
		}
	}
}
