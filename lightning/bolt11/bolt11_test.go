package bolt11

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
)

// specHashedDescription is the BOLT11 specification's example "Now send $24
// for an entire list of things (hashed)", signed by the spec's key.
const specHashedDescription = "lnbc20m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqscc6gd6ql3jrc5yzme8v4ntcewwz5cnw92tz0pc8qcuufvq7khhr8wpald05e92xw006sq94mg8v2ndf4sefvf9sygkshp5zfem29trqq2yxxz7"

func testKey(t testing.TB) *secp256k1.PrivateKey {
	t.Helper()
	b, _ := hex.DecodeString("e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734")
	return secp256k1.PrivKeyFromBytes(b)
}

func TestDecodeSpecVector(t *testing.T) {
	inv, err := Decode(specHashedDescription, "")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Network != Mainnet || inv.AmountMsat != 2_000_000_000 {
		t.Errorf("network %s amount %d", inv.Network, inv.AmountMsat)
	}
	if inv.Destination != "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad" {
		t.Errorf("destination %s", inv.Destination)
	}
	if inv.PaymentHash.String() != "0001020304050607080900010203040506070809000102030405060708090102" {
		t.Errorf("payment hash %s", inv.PaymentHash)
	}
	want := sha256.Sum256([]byte("One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, one slice of salami, one lollypop, one piece of cherry pie, one sausage, one cupcake, and one slice of watermelon"))
	if inv.DescriptionHash != want {
		t.Errorf("description hash %s", inv.DescriptionHash)
	}
	if inv.Timestamp.Unix() != 1496314658 || inv.Expiry != DefaultExpiry {
		t.Errorf("timestamp %v expiry %v", inv.Timestamp, inv.Expiry)
	}
	if _, err := Decode(specHashedDescription, Regtest); !errors.Is(err, lightning.ErrWrongNetwork) {
		t.Errorf("decoding a mainnet invoice as regtest: %v, want ErrWrongNetwork", err)
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t)
	ts := time.Unix(1_700_000_000, 0).UTC()
	for _, network := range []string{Regtest, Testnet, Signet, Simnet} {
		for _, amt := range []int64{0, 1, 1000, 123_456_789, 2_100_000_000_000_000} {
			r := Request{
				Network:         network,
				PaymentHash:     sha256.Sum256([]byte("preimage")),
				PaymentAddr:     sha256.Sum256([]byte("secret")),
				AmountMsat:      amt,
				DescriptionHash: sha256.Sum256([]byte("metadata")),
				Timestamp:       ts,
				Expiry:          10 * time.Minute,
			}
			s, err := Encode(r, key)
			if err != nil {
				t.Fatalf("%s %d: %v", network, amt, err)
			}
			if !strings.HasPrefix(s, Prefix(network)) {
				t.Errorf("%s: prefix of %s", network, s)
			}
			inv, err := Decode(strings.ToUpper(s), network) // upper case is valid bech32
			if err != nil {
				t.Fatalf("%s %d: decode: %v", network, amt, err)
			}
			if inv.Network != network || inv.AmountMsat != amt || inv.PaymentHash != r.PaymentHash ||
				inv.PaymentAddr != r.PaymentAddr || inv.DescriptionHash != r.DescriptionHash ||
				!inv.Timestamp.Equal(ts) || inv.Expiry != r.Expiry || inv.MinFinalCLTVExpiry != DefaultMinFinalCLTVExpiry {
				t.Errorf("%s %d: round trip mismatch: %+v", network, amt, inv)
			}
			if inv.Destination != hex.EncodeToString(key.PubKey().SerializeCompressed()) {
				t.Errorf("%s: recovered payee %s is not the signer", network, inv.Destination)
			}
			if got := fmt.Sprint(inv.Features); got != "[8 14 17]" {
				t.Errorf("features %s, want lnd's [8 14 17]", got)
			}
			if _, err := Decode("lightning:"+s, ""); err != nil {
				t.Errorf("lightning: URI form: %v", err)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	key := testKey(t)
	good, err := Encode(Request{
		Network: Regtest, PaymentHash: sha256.Sum256([]byte("p")), PaymentAddr: sha256.Sum256([]byte("s")),
		AmountMsat: 5000, Timestamp: time.Unix(1_700_000_000, 0), Expiry: time.Minute,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one data character: the bech32 checksum catches it.
	i := len(good) - 20
	c := byte('q')
	if good[i] == 'q' {
		c = 'p'
	}
	tampered := good[:i] + string(c) + good[i+1:]
	cases := map[string]struct {
		in      string
		network string
		want    error
	}{
		"empty":           {"", Regtest, lightning.ErrInvalidInvoice},
		"garbage":         {"hello", Regtest, lightning.ErrInvalidInvoice},
		"tampered":        {tampered, Regtest, lightning.ErrInvalidInvoice},
		"wrong network":   {good, Testnet, lightning.ErrWrongNetwork},
		"mainnet":         {specHashedDescription, Regtest, lightning.ErrWrongNetwork},
		"too long":        {good + strings.Repeat("q", MaxLength), Regtest, lightning.ErrInvalidInvoice},
		"spec too short":  {"lnbc1abcde", "", lightning.ErrInvalidInvoice},
		"spec bad amount": {"lnbc1000000000m1", "", lightning.ErrInvalidInvoice},
	}
	for name, tc := range cases {
		if _, err := Decode(tc.in, tc.network); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

func TestAmountFromHRP(t *testing.T) {
	cases := []struct {
		s    string
		want int64
		ok   bool
	}{
		{"lnbcrt1qq", 0, true},
		{"lnbcrt2500u1qq", 250_000_000, true},
		{"lnbcrt20m1qq", 2_000_000_000, true},
		{"lnbcrt10n1qq", 1000, true},
		{"lnbcrt10p1qq", 1, true},
		{"lnbcrt1p1qq", 0, false},                    // 0.1 msat
		{"lnbcrt210000011qq", 0, false},              // above 21M BTC
		{"lnbcrt184467440737095516161qq", 0, false},  // wraps uint64 in zpay32
		{"lnbcrt21000000000000000000p1qq", 0, false}, // too many digits
		{"lnbcrt210000001qq", 2_100_000_000_000_000_000, true},
		{"lnbcrtx1qq", 0, false},
		{"lnbcrtm1qq", 0, false},
	}
	for _, tc := range cases {
		got, err := amountFromHRP(tc.s, Regtest)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d ok=%v", tc.s, got, err, tc.want, tc.ok)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	key := testKey(t)
	base := Request{Network: Regtest, PaymentAddr: sha256.Sum256([]byte("s")), Timestamp: time.Unix(1_700_000_000, 0), Expiry: time.Minute}
	bad := []func(r *Request){
		func(r *Request) { r.Network = "bitcoin" },
		func(r *Request) { r.AmountMsat = -1 },
		func(r *Request) { r.AmountMsat = MaxAmountMsat + 1 },
		func(r *Request) { r.Expiry = 0 },
		func(r *Request) { r.Expiry = 1500 * time.Millisecond },
		func(r *Request) { r.Expiry = MaxExpiry + time.Second },
		func(r *Request) { r.PaymentAddr = lightning.Hash{} },
	}
	for i, mut := range bad {
		r := base
		mut(&r)
		if _, err := Encode(r, key); err == nil {
			t.Errorf("case %d: Encode accepted %+v", i, r)
		}
	}
	if _, err := Encode(base, nil); err == nil {
		t.Error("Encode without a key succeeded")
	}
}
