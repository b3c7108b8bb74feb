// Package bench times the same UMA work in our uma package and in
// uma-go-sdk v1.5.1, side by side, so that "not slower than the SDK" is a
// number rather than a claim. Each Op has an Ours and an SDK function with
// the testing.B signature; BenchmarkUMA (bench_test.go) runs them under
// `go test -bench`, and Compare times them all for cmd/umabench, which
// prints one JSON line.
//
// What is timed, per message (LNURLP request, LNURLP response, PayRequest,
// PayReqResponse, post-transaction callback):
//
//   - sign: build the message, sign it, and serialise it (URL or JSON);
//   - verify: check the signature of an already parsed message;
//   - parse_verify: wire bytes → parsed message → signature checked.
//
// plus pubkey_response/parse (JSON → both keys), ecies/encrypt and
// ecies/decrypt of a travel-rule payload, invoice/create (sign + bech32) and
// invoice/parse_verify.
//
// Fairness: both sides verify against a key they were handed. The SDK gets a
// PubKeyResponse holding only the hex key (its cheapest path; with a
// certificate chain it would re-parse the PEM chain on every verify), we get
// the parsed *uma.PublicKey. Nonce caches are out of the picture on both
// sides (the SDK gets a no-op NonceCache; we call Verify, not the Verifier).
// Both sides parse the same bytes, except for invoices, where each decodes
// the integer encoding it emits (uma-go-sdk cannot read binary integers).
package bench

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/interop/internal/fixture"
	"github.com/vaspd/vaspd/uma"
)

// Op is one operation done by both implementations.
type Op struct {
	Name string // e.g. "payreq/parse_verify"
	Ours func(b *testing.B)
	SDK  func(b *testing.B)
}

const (
	alice    = "$alice@vasp1.com"
	bob      = "$bob@vasp2.com"
	callback = "https://vasp2.com/api/uma/payreq/bob"
	utxoCB   = "https://vasp1.com/api/uma/utxoCallback?txid=abc123"
	nodePub  = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	trInfo   = `{"originator":{"name":"Alice Sender","accountNumber":"123","address":"1 Main St, Springfield"}}`
	rate     = 34150.0
	feeMsats = int64(2000)
	// invoicePR stands in for the BOLT11: neither side decodes it here.
	invoicePR = "lnbc341520n1pjbenchmarkinvoiceplaceholder"
)

// env is the shared fixture: two VASPs and their keys in every form.
type env struct {
	v1, v2         *fixture.VASP
	v1Pub, v2Pub   *uma.PublicKey
	v2Enc          *uma.PublicKey
	sdkV1, sdkV2   sdkprotocol.PubKeyResponse // hex key only
	sdkV2EncKey    []byte
	receiverAddr   uma.Address
	now            time.Time
	metadata       string
	usd            uma.Currency
	sdkUSD         sdkprotocol.Currency
	sdkPayerOpts   sdkprotocol.CounterPartyDataOptions
	sdkPayeeOpts   sdkprotocol.CounterPartyDataOptions
	postTxUtxos    []uma.UtxoWithAmount
	sdkPostTxUtxos []sdkprotocol.UtxoWithAmount
}

func newEnv() (*env, error) {
	v1, err := fixture.NewVASP("vasp1.com")
	if err != nil {
		return nil, err
	}
	v2, err := fixture.NewVASP("vasp2.com")
	if err != nil {
		return nil, err
	}
	hexOnly := func(k *uma.PublicKey) sdkprotocol.PubKeyResponse {
		h := k.Hex()
		return sdkprotocol.PubKeyResponse{SigningPubKeyHex: &h, EncryptionPubKeyHex: &h}
	}
	recv, err := uma.ParseUMAAddress(bob)
	if err != nil {
		return nil, err
	}
	e := &env{
		v1: v1, v2: v2,
		v1Pub: v1.Keys.Signing.PublicKey(), v2Pub: v2.Keys.Signing.PublicKey(), v2Enc: v2.Keys.Encryption.PublicKey(),
		sdkV1: hexOnly(v1.Keys.Signing.PublicKey()), sdkV2: hexOnly(v2.Keys.Signing.PublicKey()),
		sdkV2EncKey:  v2.Keys.Encryption.PublicKey().Bytes(),
		receiverAddr: recv,
		now:          time.Now(),
		metadata:     uma.BuildMetadata("Pay to vasp2.com user $bob", bob),
		usd: uma.Currency{Code: "USD", Name: "US Dollar", Symbol: "$", Multiplier: rate, Decimals: 2,
			Convertible: uma.Convertible{Min: 1, Max: 10_000_000}},
		sdkUSD: sdkprotocol.Currency{Code: "USD", Name: "US Dollar", Symbol: "$", MillisatoshiPerUnit: rate, Decimals: 2,
			Convertible: sdkprotocol.ConvertibleCurrency{MinSendable: 1, MaxSendable: 10_000_000}},
		sdkPayerOpts: sdkprotocol.CounterPartyDataOptions{"name": {}, "email": {}},
		sdkPayeeOpts: sdkprotocol.CounterPartyDataOptions{"name": {}},
		postTxUtxos: []uma.UtxoWithAmount{{Utxo: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809:1",
			AmountMsats: 34_152_000}},
	}
	e.sdkPostTxUtxos = []sdkprotocol.UtxoWithAmount{{Utxo: e.postTxUtxos[0].Utxo, Amount: e.postTxUtxos[0].AmountMsats}}
	return e, nil
}

// noNonceCheck keeps the SDK's nonce cache out of the measurement.
type noNonceCheck struct{}

func (noNonceCheck) CheckAndSaveNonce(string, time.Time) error { return nil }
func (noNonceCheck) PurgeNoncesOlderThan(time.Time)            {}

// fixedInvoicer is the SDK's InvoiceCreator with a constant invoice.
type fixedInvoicer struct{}

func (fixedInvoicer) CreateInvoice(int64, string, *string) (*string, error) {
	pr := invoicePR
	return &pr, nil
}

// Ops builds the fixture and returns every operation, in a stable order.
func Ops() ([]Op, error) {
	e, err := newEnv()
	if err != nil {
		return nil, err
	}
	var ops []Op
	for _, f := range []func() ([]Op, error){
		e.lnurlpRequestOps, e.lnurlpResponseOps, e.payRequestOps, e.payReqResponseOps,
		e.postTxOps, e.pubKeyOps, e.eciesOps, e.invoiceOps,
	} {
		o, err := f()
		if err != nil {
			return nil, err
		}
		ops = append(ops, o...)
	}
	return ops, nil
}

// check fails b on err (benchmarks must not silently time failures).
func check(b *testing.B, err error) {
	if err != nil {
		b.Helper()
		b.Fatal(err)
	}
}

func mustJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	return b, nil
}

// Result is one operation timed on both sides.
type Result struct {
	Op     string  `json:"op"`
	Ours   float64 `json:"ours_ns_op"`
	SDK    float64 `json:"sdk_ns_op"`
	Ratio  float64 `json:"ratio"` // Ours / SDK: below 1 means we are faster
	Slower bool    `json:"slower"`
}

// Compare runs every operation under testing.Benchmark (about a second per
// side, per op) and returns the timings in Ops order.
func Compare() ([]Result, error) {
	ops, err := Ops()
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(ops))
	for _, op := range ops {
		ours, theirs := testing.Benchmark(op.Ours), testing.Benchmark(op.SDK)
		if ours.N == 0 || theirs.N == 0 {
			return nil, fmt.Errorf("%s: benchmark failed (ours N=%d, sdk N=%d)", op.Name, ours.N, theirs.N)
		}
		r := Result{Op: op.Name, Ours: nsPerOp(ours), SDK: nsPerOp(theirs)}
		r.Ratio = r.Ours / r.SDK
		r.Slower = r.Ratio > 1
		out = append(out, r)
	}
	return out, nil
}

func nsPerOp(r testing.BenchmarkResult) float64 {
	return float64(r.T.Nanoseconds()) / float64(r.N)
}
