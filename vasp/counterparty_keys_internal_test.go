package vasp

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// A counterparty's public keys that cannot be read (a document that is no
// JSON or too large, a key or certificate that does not parse) failed the
// keys' step, as keys that cannot be fetched did: the 424 says
// COUNTERPARTY_PUBKEY_FETCH_ERROR, the umaCode why. Another verification
// failure is the step's own code.
func TestUnverifiedKeysCode(t *testing.T) {
	for _, c := range []struct {
		code uma.ErrorCode
		want string
	}{
		{uma.CodeCounterpartyPubkeyFetchError, vaspd.CodeCounterpartyPubkeyFetch},
		{uma.CodeInvalidPubkeyFormat, vaspd.CodeCounterpartyPubkeyFetch},
		{uma.CodeCertChainInvalid, vaspd.CodeCounterpartyPubkeyFetch},
		{uma.CodeInvalidSignature, vaspd.CodeLnurlpRequestFailed},
	} {
		e := lookupStep.unverified(uma.Errorf(c.code, "pubkey response of x.example is too large"), time.Second)
		if e.Status != 424 || e.Code != c.want || e.Details["umaCode"] != string(c.code) {
			t.Errorf("%s: %d %s %v, want 424 %s", c.code, e.Status, e.Code, e.Details, c.want)
		}
	}
}
