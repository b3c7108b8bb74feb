package uma

import (
	"context"
	"encoding/json"
	"testing"
)

// payeeData.identifier must be the receiver we paid (UMA's rule; compared
// case-insensitively): a receiver signing an answer for another address is
// refused even though its signature holds. Without one (the JS SDK) the
// signature is over the address we paid.
func TestVerifyPayReqResponsePayeeIdentifier(t *testing.T) {
	var raw struct {
		Body json.RawMessage `json:"body"`
	}
	loadVector(t, "generated/04_payreq_response.json", &raw)
	key := mustPriv(t, loadKeys(t)["vasp2.com"].PrivateKeyHex)
	bob, _ := ParseAddress("$bob@vasp2.com")
	for _, tc := range []struct {
		identifier string
		code       ErrorCode // "" = accepted
	}{
		{"$bob@vasp2.com", ""},
		{"$BOB@VASP2.com", ""},
		{"$carol@vasp2.com", CodeInvalidSignature},
		{"$bob@vasp3.com", CodeInvalidSignature},
		{"bob@vasp2.com", CodeInvalidSignature},
		{"$bob@vasp2.com:8443", CodeInvalidSignature},
		{"", ""},
	} {
		t.Run(tc.identifier, func(t *testing.T) {
			r, err := ParsePayReqResponse(raw.Body)
			if err != nil {
				t.Fatal(err)
			}
			r.PayeeData.Identifier = tc.identifier
			// Signed over the identifier it names (Kotlin/Python style), or
			// over the address paid when it names none.
			signed := tc.identifier
			if signed == "" {
				signed = bob.String()
			}
			r.PayeeData.Compliance.Signature = signHex(key, r.SignablePayload("$alice@vasp1.com", signed))
			_, err = vectorVerifier(t).VerifyPayReqResponse(context.Background(), r, "$alice@vasp1.com", bob)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}
