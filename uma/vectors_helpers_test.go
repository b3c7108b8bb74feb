package uma

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The shared vectors live beside the repository (../shared/uma-vectors from
// the project root), not in it; a fresh clone skips these tests.
func vectorsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "uma-vectors")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/uma-vectors not present (outside a dev checkout)")
	}
	return dir
}

func loadVector(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func readVector(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectorTime is the signature time of every generated vector.
var vectorTime = time.Unix(1735689600, 0)

type vectorKeys struct {
	PrivateKeyHex string `json:"privateKeyHex"`
	PublicKeyHex  string `json:"publicKeyHex"`
	CertChainPem  string `json:"certChainPem"`
}

func loadKeys(t testing.TB) map[string]vectorKeys {
	var m map[string]json.RawMessage
	loadVector(t, "generated/keys.json", &m)
	out := map[string]vectorKeys{}
	for _, d := range []string{"vasp1.com", "vasp2.com"} {
		var k vectorKeys
		if err := json.Unmarshal(m[d], &k); err != nil {
			t.Fatal(err)
		}
		out[d] = k
	}
	return out
}

func mustPriv(t testing.TB, h string) *PrivateKey {
	t.Helper()
	k, err := ParsePrivateKeyHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectorSource serves the keys of pubkey_response_vasp{1,2}.json.
func vectorSource(t testing.TB) StaticKeys {
	s := StaticKeys{}
	for domain, file := range map[string]string{"vasp1.com": "generated/pubkey_response_vasp1.json", "vasp2.com": "generated/pubkey_response_vasp2.json"} {
		r, err := ParsePubKeyResponse(readVector(t, file))
		if err != nil {
			t.Fatal(err)
		}
		k, err := r.PublicKeys()
		if err != nil {
			t.Fatal(err)
		}
		s[domain] = k
	}
	return s
}

// vectorVerifier verifies at the vectors' signature time.
func vectorVerifier(t testing.TB) *Verifier {
	return &Verifier{
		Keys:   vectorSource(t),
		Nonces: NewMemoryNonceCache(vectorTime.Add(-time.Hour)),
		Now:    func() time.Time { return vectorTime.Add(time.Minute) },
	}
}

func wantCode(t testing.TB, err error, code ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got nil", code)
	}
	e := AsError(err)
	if e.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}
