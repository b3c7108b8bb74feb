package interop

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"

	"github.com/vaspd/vaspd/uma"
)

const (
	alice = "$alice@vasp1.com"
	bob   = "$bob@vasp2.com"
)

// ourLnurlpRequest signs an LNURLP request from vasp1 to bob with our package.
func ourLnurlpRequest(t testing.TB) *url.URL {
	t.Helper()
	to, err := uma.ParseUMAAddress(bob)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uma.NewLnurlpRequest(vasp1.Keys.Signing, to, vasp1.Domain, true, uma.Version1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := r.URL()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// ourParseVerifyLnurlpRequest is the receiver side of our package: the
// server's parse, then the Verifier (signature, time window, nonce).
func ourParseVerifyLnurlpRequest(t testing.TB, raw string, v *uma.Verifier) (*uma.LnurlpRequest, error) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !uma.IsUMALnurlpQuery(u) {
		t.Fatalf("IsUMALnurlpQuery(%s) = false", raw)
	}
	r, err := uma.ParseLnurlpRequest(u)
	if err != nil {
		t.Fatalf("ParseLnurlpRequest: %v", err)
	}
	_, err = v.VerifyLnurlpRequest(context.Background(), r)
	return r, err
}

func TestLnurlpRequest(t *testing.T) {
	t.Run("gosdk→ours", func(t *testing.T) {
		v := ourVerifier(t, vasp1.Domain, sdkPubKeyJSON(t, vasp1))
		// uma-go-sdk signs with stdlib-style randomised ECDSA and does not
		// normalise S: about half of its signatures are high-S. Sign until
		// both kinds were seen (P(no high-S in 64) = 2^-64) and verify all.
		var high, low int
		for i := 0; i < 64 && (high == 0 || low == 0 || i < 8); i++ {
			u, err := sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), bob, vasp1.Domain, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ourParseVerifyLnurlpRequest(t, u.String(), v)
			if err != nil {
				t.Fatalf("our verify of uma-go-sdk request %s: %v", u, err)
			}
			if r.ReceiverAddress != bob || r.VaspDomain != vasp1.Domain || !r.IsSubjectToTravelRule || r.UmaVersion != "1.0" {
				t.Fatalf("parsed %+v", r)
			}
			if isHighS(t, mustHex(t, r.Signature)) {
				high++
			} else {
				low++
			}
		}
		if high == 0 {
			t.Fatalf("no high-S signature from uma-go-sdk in 64 tries; has it started normalising? update docs/interop.md")
		}
		t.Logf("verified %d high-S and %d low-S uma-go-sdk signatures", high, low)

		// Negative control: the same request checked against the wrong key.
		u, _ := sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), bob, vasp1.Domain, true, nil)
		_, err := ourParseVerifyLnurlpRequest(t, u.String(), wrongVerifier(t, vasp1.Domain))
		wantCode(t, err, uma.CodeInvalidSignature)
		// Replay: accepted once, refused the second time.
		if _, err := ourParseVerifyLnurlpRequest(t, u.String(), v); err != nil {
			t.Fatal(err)
		}
		_, err = ourParseVerifyLnurlpRequest(t, u.String(), v)
		wantCode(t, err, uma.CodeInvalidNonce)

	})

	t.Run("ours→gosdk", func(t *testing.T) {
		u := ourLnurlpRequest(t)
		if isHighS(t, mustHex(t, u.Query().Get("signature"))) {
			t.Errorf("we emitted a high-S signature")
		}
		r, err := sdk.ParseLnurlpRequest(*u)
		if err != nil {
			t.Fatalf("uma-go-sdk ParseLnurlpRequest(%s): %v", u, err)
		}
		if !sdk.IsUmaLnurlpQuery(*u) || !r.IsUmaRequest() {
			t.Fatalf("uma-go-sdk does not see an UMA request in %s", u)
		}
		cache := sdk.NewInMemoryNonceCache(time.Now().Add(-time.Hour))
		if err := sdk.VerifyUmaLnurlpQuerySignature(*r.AsUmaRequest(), sdkPubKey(t, vasp1), cache); err != nil {
			t.Fatalf("uma-go-sdk rejects our request: %v", err)
		}
		if r.ReceiverAddress != bob || *r.VaspDomain != vasp1.Domain || !*r.IsSubjectToTravelRule || *r.UmaVersion != "1.0" {
			t.Errorf("uma-go-sdk parsed %+v", r)
		}
		// Negative control: a tampered nonce must not verify.
		q := u.Query()
		q.Set("nonce", q.Get("nonce")+"1")
		u.RawQuery = q.Encode()
		r, _ = sdk.ParseLnurlpRequest(*u)
		if err := sdk.VerifyUmaLnurlpQuerySignature(*r.AsUmaRequest(), sdkPubKey(t, vasp1), cache); err == nil {
			t.Fatal("uma-go-sdk accepted a tampered request: the harness is not checking anything")
		}
	})

	t.Run("jssdk→ours", func(t *testing.T) {
		v := ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON()))
		var out struct{ URL string }
		jsCall(t, "signLnurlpRequest", map[string]any{
			"privateKey": vasp1.SigningKeyHex, "receiverAddress": bob,
			"senderVaspDomain": vasp1.Domain, "isSubjectToTravelRule": true,
		}, &out)
		r, err := ourParseVerifyLnurlpRequest(t, out.URL, v)
		if err != nil {
			t.Fatalf("our verify of JS request %s: %v", out.URL, err)
		}
		if r.ReceiverAddress != bob || r.VaspDomain != vasp1.Domain || !r.IsSubjectToTravelRule || r.UmaVersion != "1.0" {
			t.Errorf("parsed %+v", r)
		}
		_, err = ourParseVerifyLnurlpRequest(t, out.URL, wrongVerifier(t, vasp1.Domain))
		wantCode(t, err, uma.CodeInvalidSignature)
		_, err = ourParseVerifyLnurlpRequest(t, out.URL, v)
		wantCode(t, err, uma.CodeInvalidNonce) // replay
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		u := ourLnurlpRequest(t)
		var got struct {
			Verified, IsUma             bool
			ReceiverAddress, VaspDomain string
			Nonce, UmaVersion           string
			Timestamp                   int64
			IsSubjectToTravelRule       bool
		}
		jsCall(t, "verifyLnurlpRequest", map[string]any{"url": u.String(), "pubKeyResponse": vasp1.PubKeyResponseJSON()}, &got)
		if !got.Verified || !got.IsUma {
			t.Fatalf("JS SDK: verified=%v isUma=%v for %s", got.Verified, got.IsUma, u)
		}
		q := u.Query()
		if got.ReceiverAddress != bob || got.VaspDomain != vasp1.Domain || got.Nonce != q.Get("nonce") ||
			strconv.FormatInt(got.Timestamp, 10) != q.Get("timestamp") || got.UmaVersion != "1.0" || !got.IsSubjectToTravelRule {
			t.Errorf("JS parsed %+v from %s", got, u)
		}
		jsCall(t, "verifyLnurlpRequest", map[string]any{"url": u.String(), "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
		if got.Verified {
			t.Fatal("JS SDK verified our request with the wrong key: the harness is not checking anything")
		}
	})
}

// Local domains with ports (uma-protocol.md §1.3, the domain → scheme rule):
// the URL is http, and the signed receiver address keeps the port, on every
// side.
func TestLnurlpRequestLocalDomain(t *testing.T) {
	const (
		receiver = "$bob@localhost:8080"
		sender   = "localhost:3000"
	)
	checkURL := func(t *testing.T, raw string) {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme != "http" || u.Host != "localhost:8080" || u.Path != "/.well-known/lnurlp/$bob" {
			t.Errorf("request URL %s", raw)
		}
	}
	ourVerify := func(t *testing.T, raw string) {
		t.Helper()
		r, err := ourParseVerifyLnurlpRequest(t, raw, ourVerifier(t, sender, []byte(vasp1.PubKeyResponseJSON())))
		if err != nil {
			t.Fatalf("our verify of %s: %v", raw, err)
		}
		if r.ReceiverAddress != receiver || r.VaspDomain != sender {
			t.Errorf("parsed %s / %s", r.ReceiverAddress, r.VaspDomain)
		}
	}
	ours := func(t *testing.T) string {
		t.Helper()
		r, err := uma.NewLnurlpRequest(vasp1.Keys.Signing, mustAddress(t, receiver), sender, true, uma.Version1, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		u, err := r.URL()
		if err != nil {
			t.Fatal(err)
		}
		checkURL(t, u.String())
		return u.String()
	}

	t.Run("gosdk→ours", func(t *testing.T) {
		u, err := sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), receiver, sender, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkURL(t, u.String())
		ourVerify(t, u.String())
	})

	t.Run("ours→gosdk", func(t *testing.T) {
		u, _ := url.Parse(ours(t))
		r, err := sdk.ParseLnurlpRequest(*u)
		if err != nil {
			t.Fatal(err)
		}
		if r.ReceiverAddress != receiver {
			t.Errorf("uma-go-sdk read receiver %q", r.ReceiverAddress)
		}
		if err := sdk.VerifyUmaLnurlpQuerySignature(*r.AsUmaRequest(), sdkPubKey(t, vasp1), noNonceCheck{}); err != nil {
			t.Fatalf("uma-go-sdk rejects our local request: %v", err)
		}
	})

	t.Run("jssdk→ours", func(t *testing.T) {
		var out struct{ URL string }
		jsCall(t, "signLnurlpRequest", map[string]any{"privateKey": vasp1.SigningKeyHex, "receiverAddress": receiver,
			"senderVaspDomain": sender, "isSubjectToTravelRule": true}, &out)
		checkURL(t, out.URL)
		ourVerify(t, out.URL)
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		var got struct {
			Verified        bool
			ReceiverAddress string
		}
		jsCall(t, "verifyLnurlpRequest", map[string]any{"url": ours(t), "pubKeyResponse": vasp1.PubKeyResponseJSON()}, &got)
		if !got.Verified || got.ReceiverAddress != receiver {
			t.Errorf("JS SDK read %+v", got)
		}
	})
}

// sdkSignedLnurlpURL is vasp1's request to bob signed by uma-go-sdk.
func sdkSignedLnurlpURL() (string, error) {
	u, err := sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), bob, vasp1.Domain, true, nil)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
