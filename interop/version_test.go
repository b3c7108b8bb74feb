package interop

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/uma"
)

// Version negotiation (UMAD-08, §2.5): a request for an unknown major is
// answered 412 with supportedMajorVersions, and the sender retries with the
// highest common version; v0.3 requests are still answered in the 0.3 shape.

// ourNegotiate is our receiver's version step for a request URL: parse, then
// NegotiateVersion. It returns the *uma.Error for an unsupported version.
func ourNegotiate(t testing.TB, raw string) (uma.Version, error) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uma.ParseLnurlpRequest(u)
	if err != nil {
		return uma.Version{}, err
	}
	return uma.NegotiateVersion(r.UmaVersion)
}

// our412 asserts err is our 412 answer and returns its body.
func our412(t testing.TB, err error) []byte {
	t.Helper()
	wantCode(t, err, uma.CodeUnsupportedUMAVersion)
	e := uma.AsError(err)
	if e.HTTPStatus() != http.StatusPreconditionFailed || !slices.Contains(e.SupportedMajorVersions, 1) {
		t.Fatalf("status %d, supportedMajorVersions %v", e.HTTPStatus(), e.SupportedMajorVersions)
	}
	return e.Body()
}

// ourRetryVersion is our sender's reading of a counterparty's 412 body.
func ourRetryVersion(t testing.TB, body string) uma.Version {
	t.Helper()
	e, ok := uma.ParseErrorBody([]byte(body))
	if !ok || e.Code != uma.CodeUnsupportedUMAVersion {
		t.Fatalf("ParseErrorBody(%s) = %+v, %v", body, e, ok)
	}
	v, err := uma.SelectHighestSupportedVersion(e.SupportedMajorVersions)
	if err != nil {
		t.Fatalf("SelectHighestSupportedVersion(%v): %v", e.SupportedMajorVersions, err)
	}
	return v
}

func TestVersionNegotiation(t *testing.T) {
	t.Run("gosdk-2.0→ours-412→gosdk", func(t *testing.T) {
		v2 := "2.0"
		u, err := sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), bob, vasp1.Domain, true, &v2)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ourNegotiate(t, u.String())
		body := our412(t, err)
		majors, err := sdk.GetSupportedMajorVersionsFromErrorResponseBody(body)
		if err != nil {
			t.Fatalf("uma-go-sdk cannot read our 412 body %s: %v", body, err)
		}
		retry := sdk.SelectHighestSupportedVersion(majors)
		if retry == nil || *retry != "1.0" {
			t.Fatalf("uma-go-sdk retries with %v after %s", retry, body)
		}
		u, err = sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), bob, vasp1.Domain, true, retry)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ourParseVerifyLnurlpRequest(t, u.String(), ourVerifier(t, vasp1.Domain, sdkPubKeyJSON(t, vasp1))); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})

	t.Run("ours-2.0→gosdk-412→ours", func(t *testing.T) {
		r, err := uma.NewLnurlpRequest(vasp1.Keys.Signing, mustAddress(t, bob), vasp1.Domain, true, uma.Version{Major: 2}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		u, err := r.URL()
		if err != nil {
			t.Fatal(err)
		}
		_, err = sdk.ParseLnurlpRequest(*u)
		var uv sdk.UnsupportedVersionError
		if !errors.As(err, &uv) {
			t.Fatalf("uma-go-sdk on umaVersion=2.0: %v", err)
		}
		body, err := uv.ToJSON()
		if err != nil {
			t.Fatal(err)
		}
		if v := ourRetryVersion(t, body); v != uma.Version1 {
			t.Errorf("we retry with %v after %s", v, body)
		}
	})

	t.Run("jssdk-2.0→ours-412→jssdk", func(t *testing.T) {
		var out struct{ URL string }
		jsCall(t, "signLnurlpRequest", map[string]any{"privateKey": vasp1.SigningKeyHex, "receiverAddress": bob,
			"senderVaspDomain": vasp1.Domain, "isSubjectToTravelRule": true, "umaVersion": "2.0"}, &out)
		_, err := ourNegotiate(t, out.URL)
		body := our412(t, err)
		var got struct{ Version string }
		jsCall(t, "selectVersion", map[string]any{"json": string(body)}, &got)
		if got.Version != "1.0" {
			t.Errorf("JS SDK retries with %q after %s", got.Version, body)
		}
	})

	t.Run("ours-2.0→jssdk-412→ours", func(t *testing.T) {
		r, err := uma.NewLnurlpRequest(vasp1.Keys.Signing, mustAddress(t, bob), vasp1.Domain, true, uma.Version{Major: 2}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		u, err := r.URL()
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ JSON string }
		jsCall(t, "unsupportedVersionBody", map[string]any{"url": u.String()}, &out)
		if v := ourRetryVersion(t, out.JSON); v != uma.Version1 {
			t.Errorf("we retry with %v after %s", v, out.JSON)
		}
	})

	// A 0.3 request: we sign it, uma-go-sdk accepts it and answers in the
	// 0.3 shape (currencies with minSendable/maxSendable), which we verify.
	t.Run("v0.3-ours→gosdk→ours", func(t *testing.T) {
		r, err := uma.NewLnurlpRequest(vasp1.Keys.Signing, mustAddress(t, bob), vasp1.Domain, true, uma.Version0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		u, err := r.URL()
		if err != nil {
			t.Fatal(err)
		}
		req, err := sdk.ParseLnurlpRequest(*u)
		if err != nil {
			t.Fatalf("uma-go-sdk ParseLnurlpRequest(%s): %v", u, err)
		}
		if err := sdk.VerifyUmaLnurlpQuerySignature(*req.AsUmaRequest(), sdkPubKey(t, vasp1), noNonceCheck{}); err != nil {
			t.Fatalf("uma-go-sdk rejects our 0.3 request: %v", err)
		}
		key, tr, kyc := vasp2.SigningKeyBytes(), true, sdkprotocol.KycStatusVerified
		opts := sdkprotocol.CounterPartyDataOptions{}
		currencies := []sdkprotocol.Currency{{
			Code: "USD", Name: "US Dollar", Symbol: "$", MillisatoshiPerUnit: usdMultiplier, Decimals: 2,
			Convertible: sdkprotocol.ConvertibleCurrency{MinSendable: 1, MaxSendable: 10_000_000},
		}}
		resp, err := sdk.GetLnurlpResponse(*req, payreqCallback, uma.BuildMetadata("Pay to bob", bob),
			1, 10_000_000, &key, &tr, &opts, &currencies, &kyc, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		body := mustJSON(t, resp)
		if !strings.Contains(string(body), `"umaVersion":"0.3"`) || strings.Contains(string(body), `"convertible"`) {
			t.Fatalf("uma-go-sdk's answer to 0.3 is not in the 0.3 shape: %s", body)
		}
		got, err := ourParseVerifyLnurlpResponse(t, body, ourVerifier(t, vasp2.Domain, sdkPubKeyJSON(t, vasp2)))
		if err != nil {
			t.Fatalf("our verify of %s: %v", body, err)
		}
		c, ok := uma.FindCurrency(got.Currencies, "USD")
		if !ok || c.Convertible != usd.Convertible || c.Multiplier != usdMultiplier || got.UmaVersion != "0.3" {
			t.Errorf("0.3 response read as %+v / %q", got.Currencies, got.UmaVersion)
		}
	})

	// A 0.3 request from the JS SDK: we pick 0.3 and answer in its shape,
	// which the JS SDK verifies.
	t.Run("v0.3-jssdk→ours→jssdk", func(t *testing.T) {
		var out struct{ URL string }
		jsCall(t, "signLnurlpRequest", map[string]any{"privateKey": vasp1.SigningKeyHex, "receiverAddress": bob,
			"senderVaspDomain": vasp1.Domain, "isSubjectToTravelRule": true, "umaVersion": "0.3"}, &out)
		req, err := ourParseVerifyLnurlpRequest(t, out.URL, ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON())))
		if err != nil {
			t.Fatalf("our verify of %s: %v", out.URL, err)
		}
		if v, err := uma.NegotiateVersion(req.UmaVersion); err != nil || v != uma.Version0 {
			t.Fatalf("NegotiateVersion(%q) = %v, %v", req.UmaVersion, v, err)
		}
		body := ourLnurlpResponse(t, req)
		if !strings.Contains(string(body), `"umaVersion":"0.3"`) || strings.Contains(string(body), `"convertible"`) {
			t.Fatalf("our answer to 0.3 is not in the 0.3 shape: %s", body)
		}
		var got struct {
			Verified bool
			Parsed   struct {
				UmaVersion string
				Currencies []struct {
					Code                     string
					MinSendable, MaxSendable int64
				}
			}
		}
		jsCall(t, "verifyLnurlpResponse", map[string]any{"json": string(body), "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
		if !got.Verified || got.Parsed.UmaVersion != "0.3" || len(got.Parsed.Currencies) != 1 {
			t.Fatalf("JS SDK read %+v from %s", got, body)
		}
	})
}
