package interop

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/interop/internal/fixture"
	"github.com/vaspd/vaspd/interop/internal/jssdk"
	"github.com/vaspd/vaspd/uma"
)

// The two VASPs of every test: vasp1 sends, vasp2 receives. Fresh keys per
// test binary.
var (
	vasp1, vasp2 *fixture.VASP

	jsOnce sync.Once
	jsInst *jssdk.SDK
	jsErr  error
)

func TestMain(m *testing.M) {
	var err error
	if vasp1, err = fixture.NewVASP("vasp1.com"); err == nil {
		vasp2, err = fixture.NewVASP("vasp2.com")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: fixture:", err)
		os.Exit(1)
	}
	code := m.Run()
	if jsInst != nil {
		_ = jsInst.Close()
	}
	os.Exit(code)
}

// requireJSEnv, when set to a non-empty value (scripts/ci/interop.sh sets
// it), turns a missing JS SDK into a test failure instead of a skip.
const requireJSEnv = "VASPD_INTEROP_REQUIRE_JS"

// js returns the running JS SDK driver, skipping the test (one line) when
// node or the installed SDK is missing.
func js(t testing.TB) *jssdk.SDK {
	t.Helper()
	jsOnce.Do(func() {
		dir := fixture.JSDir()
		if dir == "" {
			jsErr = fmt.Errorf("%w: interop/js not found", jssdk.ErrUnavailable)
			return
		}
		jsInst, jsErr = jssdk.Start(dir)
	})
	if jsErr != nil {
		if os.Getenv(requireJSEnv) != "" {
			t.Fatalf("JS SDK interop required (%s set): %v", requireJSEnv, jsErr)
		}
		t.Skipf("skipping JS SDK interop: %v", jsErr)
	}
	return jsInst
}

// jsCall is js(t).Call failing the test on error.
func jsCall(t testing.TB, op string, args, out any) {
	t.Helper()
	if err := js(t).Call(op, args, out); err != nil {
		t.Fatal(err)
	}
}

// sdkPubKey is what uma-go-sdk makes of v's /.well-known/lnurlpubkey body
// as served by us.
func sdkPubKey(t testing.TB, v *fixture.VASP) sdkprotocol.PubKeyResponse {
	t.Helper()
	var r sdkprotocol.PubKeyResponse
	if err := json.Unmarshal([]byte(v.PubKeyResponseJSON()), &r); err != nil {
		t.Fatalf("uma-go-sdk cannot parse our pubkey response: %v", err)
	}
	return r
}

// sdkPubKeyJSON is v's /.well-known/lnurlpubkey body as a uma-go-sdk VASP
// would serve it.
func sdkPubKeyJSON(t testing.TB, v *fixture.VASP) []byte {
	t.Helper()
	r, err := sdk.GetPubKeyResponse(v.SigningCertPEM, v.EncryptionCertPEM, nil)
	if err != nil {
		t.Fatalf("uma-go-sdk GetPubKeyResponse: %v", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ourKeys parses a pubkey response body with our package.
func ourKeys(t testing.TB, body []byte) *uma.PublicKeys {
	t.Helper()
	r, err := uma.ParsePubKeyResponse(body)
	if err != nil {
		t.Fatalf("ParsePubKeyResponse: %v", err)
	}
	k, err := r.PublicKeys()
	if err != nil {
		t.Fatalf("PublicKeys: %v", err)
	}
	return k
}

// curveN is the order of secp256k1; a signature with S above curveN/2
// (halfOrder) is "high-S".
var (
	curveN, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
	halfOrder = new(big.Int).Rsh(curveN, 1)
)

// isHighS reports whether a hex or raw DER ECDSA signature has S > N/2.
func isHighS(t testing.TB, der []byte) bool {
	t.Helper()
	// SEQUENCE { INTEGER r, INTEGER s }, short-form lengths (sigs are < 128 bytes).
	if len(der) < 8 || der[0] != 0x30 || der[2] != 0x02 {
		t.Fatalf("not a DER signature: %x", der)
	}
	rLen := int(der[3])
	sOff := 4 + rLen
	if sOff+2 > len(der) || der[sOff] != 0x02 {
		t.Fatalf("not a DER signature: %x", der)
	}
	sLen := int(der[sOff+1])
	s := new(big.Int).SetBytes(der[sOff+2 : sOff+2+sLen])
	return s.Cmp(halfOrder) > 0
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// wantCode asserts that err is an uma *Error with the given code.
func wantCode(t testing.TB, err error, code uma.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s", code)
	}
	e := uma.AsError(err)
	if e == nil || e.Code != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// ourVerifier is the receiving side of our package as the server runs it:
// a Verifier whose key source holds what we parsed from the counterparty's
// /.well-known/lnurlpubkey body, with a fresh replay cache.
func ourVerifier(t testing.TB, domain string, pubKeyBody []byte) *uma.Verifier {
	t.Helper()
	return &uma.Verifier{
		Keys:   uma.StaticKeys{domain: ourKeys(t, pubKeyBody)},
		Nonces: uma.NewMemoryNonceCache(time.Now().Add(-time.Hour)),
	}
}

// wrongVerifier verifies with the wrong VASP's keys under domain: the
// negative control that proves a test is checking signatures at all.
func wrongVerifier(t testing.TB, domain string) *uma.Verifier {
	t.Helper()
	other := vasp1
	if domain == vasp1.Domain {
		other = vasp2
	}
	return ourVerifier(t, domain, []byte(other.PubKeyResponseJSON()))
}

// noNonceCheck is an uma-go-sdk NonceCache that accepts everything: the
// interop question is whether the SDK accepts the signature.
type noNonceCheck struct{}

func (noNonceCheck) CheckAndSaveNonce(string, time.Time) error { return nil }
func (noNonceCheck) PurgeNoncesOlderThan(time.Time)            {}

// mustJSON marshals v or fails the test.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

func mustAddress(t testing.TB, s string) uma.Address {
	t.Helper()
	a, err := uma.ParseUMAAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
