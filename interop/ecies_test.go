package interop

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	eciesgo "github.com/ecies/go/v2"

	"github.com/vaspd/vaspd/interop/internal/fixture"
	"github.com/vaspd/vaspd/uma"
)

// Travel-rule ECIES. The Go SDK encrypts with ecies/go and the JS SDK with
// eciesjs; neither SDK has a decrypt helper, so a receiver built on them
// decrypts with the same library — which is what we drive here.
var eciesPlaintexts = []string{
	"x",
	travelRuleInfo,
	`{"name":"Zoë Ñandú 山田","note":"` + strings.Repeat("0123456789", 100) + `"}`,
}

func TestECIES(t *testing.T) {
	recipient := vasp2.Keys.Encryption
	recipientPub := recipient.PublicKey()
	goPriv := eciesgo.NewPrivateKeyFromBytes(recipient.Bytes())

	t.Run("gosdk→ours", func(t *testing.T) {
		goPub, err := eciesgo.NewPublicKeyFromBytes(recipientPub.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range eciesPlaintexts {
			ct, err := eciesgo.Encrypt(goPub, []byte(pt))
			if err != nil {
				t.Fatal(err)
			}
			got, err := uma.DecryptTravelRuleInfo(recipient, hex.EncodeToString(ct))
			if err != nil || string(got) != pt {
				t.Fatalf("our decrypt of ecies/go ciphertext: %q, %v", got, err)
			}
			ct[len(ct)-1] ^= 1
			_, err = uma.Decrypt(recipient, ct)
			wantCode(t, err, uma.CodeInvalidInput)
		}
	})

	t.Run("ours→gosdk", func(t *testing.T) {
		for _, pt := range eciesPlaintexts {
			h, err := uma.EncryptTravelRuleInfo(recipientPub, []byte(pt))
			if err != nil {
				t.Fatal(err)
			}
			got, err := eciesgo.Decrypt(goPriv, mustHex(t, h))
			if err != nil || string(got) != pt {
				t.Fatalf("ecies/go decrypt of ours: %q, %v", got, err)
			}
			// Decrypting with the wrong key must fail (negative control).
			if _, err := eciesgo.Decrypt(eciesgo.NewPrivateKeyFromBytes(vasp1.Keys.Encryption.Bytes()), mustHex(t, h)); err == nil {
				t.Fatal("ecies/go decrypted with the wrong key")
			}
		}
	})

	t.Run("jssdk→ours", func(t *testing.T) {
		for _, pt := range eciesPlaintexts {
			var out struct{ Hex string }
			jsCall(t, "encrypt", map[string]any{"publicKey": recipientPub.Hex(), "plaintext": pt}, &out)
			got, err := uma.DecryptTravelRuleInfo(recipient, out.Hex)
			if err != nil || string(got) != pt {
				t.Fatalf("our decrypt of eciesjs ciphertext: %q, %v", got, err)
			}
			_, err = uma.DecryptTravelRuleInfo(vasp1.Keys.Encryption, out.Hex)
			wantCode(t, err, uma.CodeInvalidInput)
		}
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		for _, pt := range eciesPlaintexts {
			h, err := uma.EncryptTravelRuleInfo(recipientPub, []byte(pt))
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ Plaintext string }
			jsCall(t, "decrypt", map[string]any{"privateKey": hex.EncodeToString(recipient.Bytes()), "hex": h}, &out)
			if out.Plaintext != pt {
				t.Fatalf("eciesjs decrypt of ours = %q", out.Plaintext)
			}
			err = js(t).Call("decrypt", map[string]any{"privateKey": hex.EncodeToString(vasp1.Keys.Encryption.Bytes()), "hex": h}, &out)
			if err == nil {
				t.Fatal("eciesjs decrypted with the wrong key")
			}
		}
	})

	// The deterministic shared vector decrypts identically everywhere.
	t.Run("vector", func(t *testing.T) {
		dir := fixture.SharedDir()
		if dir == "" {
			t.Skip("skipping: ../shared/uma-vectors not present")
		}
		b, err := os.ReadFile(filepath.Join(dir, "generated", "ecies_vector.json"))
		if err != nil {
			t.Fatal(err)
		}
		var vec struct{ RecipientPrivateKeyHex, Plaintext, CiphertextHex string }
		if err := json.Unmarshal(b, &vec); err != nil {
			t.Fatal(err)
		}
		key, err := uma.ParsePrivateKeyHex(vec.RecipientPrivateKeyHex)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := uma.DecryptTravelRuleInfo(key, vec.CiphertextHex); err != nil || string(got) != vec.Plaintext {
			t.Errorf("ours: %q, %v", got, err)
		}
		got, err := eciesgo.Decrypt(eciesgo.NewPrivateKeyFromBytes(key.Bytes()), mustHex(t, vec.CiphertextHex))
		if err != nil || string(got) != vec.Plaintext {
			t.Errorf("ecies/go: %q, %v", got, err)
		}
		var out struct{ Plaintext string }
		jsCall(t, "decrypt", map[string]any{"privateKey": vec.RecipientPrivateKeyHex, "hex": vec.CiphertextHex}, &out)
		if out.Plaintext != vec.Plaintext {
			t.Errorf("eciesjs: %q", out.Plaintext)
		}
	})
}
