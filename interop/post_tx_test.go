package interop

import (
	"context"
	"strings"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/uma"
)

var postTxUtxos = []uma.UtxoWithAmount{
	{Utxo: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809:1", AmountMsats: 34_152_000},
}

// ourPostTx is vasp1's signed callback after paying (sent to bob's VASP).
func ourPostTx(t testing.TB) []byte {
	t.Helper()
	c := &uma.PostTransactionCallback{Utxos: postTxUtxos, VaspDomain: vasp1.Domain}
	c.Sign(vasp1.Keys.Signing, time.Now())
	return mustJSON(t, c)
}

func ourParseVerifyPostTx(t testing.TB, body []byte, v *uma.Verifier) (*uma.PostTransactionCallback, error) {
	t.Helper()
	c, err := uma.ParsePostTransactionCallback(body)
	if err != nil {
		t.Fatalf("ParsePostTransactionCallback(%s): %v", body, err)
	}
	return c, v.VerifyPostTransactionCallback(context.Background(), c, vasp1.Domain)
}

func checkOurPostTx(t *testing.T, c *uma.PostTransactionCallback) {
	t.Helper()
	if c.VaspDomain != vasp1.Domain || len(c.Utxos) != 1 || c.Utxos[0] != postTxUtxos[0] {
		t.Errorf("callback = %+v", c)
	}
}

func TestPostTransactionCallback(t *testing.T) {
	t.Run("gosdk→ours", func(t *testing.T) {
		cb, err := sdk.GetPostTransactionCallback(
			[]sdkprotocol.UtxoWithAmount{{Utxo: postTxUtxos[0].Utxo, Amount: postTxUtxos[0].AmountMsats}},
			vasp1.Domain, vasp1.SigningKeyBytes())
		if err != nil {
			t.Fatal(err)
		}
		body := mustJSON(t, cb)
		v := ourVerifier(t, vasp1.Domain, sdkPubKeyJSON(t, vasp1))
		c, err := ourParseVerifyPostTx(t, body, v)
		if err != nil {
			t.Fatalf("our verify of uma-go-sdk callback %s: %v", body, err)
		}
		checkOurPostTx(t, c)
		_, err = ourParseVerifyPostTx(t, body, v)
		wantCode(t, err, uma.CodeInvalidNonce)
		_, err = ourParseVerifyPostTx(t, body, wrongVerifier(t, vasp1.Domain))
		wantCode(t, err, uma.CodeInvalidSignature)
	})

	t.Run("ours→gosdk", func(t *testing.T) {
		body := ourPostTx(t)
		cb, err := sdk.ParsePostTransactionCallback(body)
		if err != nil {
			t.Fatalf("uma-go-sdk ParsePostTransactionCallback(%s): %v", body, err)
		}
		if err := sdk.VerifyPostTransactionCallbackSignature(cb, sdkPubKey(t, vasp1), noNonceCheck{}); err != nil {
			t.Fatalf("uma-go-sdk rejects our callback: %v", err)
		}
		if *cb.VaspDomain != vasp1.Domain || len(cb.Utxos) != 1 || cb.Utxos[0].Amount != postTxUtxos[0].AmountMsats {
			t.Errorf("uma-go-sdk read %+v", cb)
		}
		if err := sdk.VerifyPostTransactionCallbackSignature(cb, sdkPubKey(t, vasp2), noNonceCheck{}); err == nil {
			t.Fatal("uma-go-sdk verified our callback with the wrong key")
		}
	})

	t.Run("jssdk→ours", func(t *testing.T) {
		var out struct{ JSON string }
		jsCall(t, "signPostTx", map[string]any{"utxos": postTxUtxos, "vaspDomain": vasp1.Domain, "privateKey": vasp1.SigningKeyHex}, &out)
		v := ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON()))
		c, err := ourParseVerifyPostTx(t, []byte(out.JSON), v)
		if err != nil {
			t.Fatalf("our verify of JS callback %s: %v", out.JSON, err)
		}
		checkOurPostTx(t, c)
		_, err = ourParseVerifyPostTx(t, []byte(out.JSON), wrongVerifier(t, vasp1.Domain))
		wantCode(t, err, uma.CodeInvalidSignature)
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		body := ourPostTx(t)
		var got struct {
			Verified   bool
			VaspDomain string
			Utxos      []uma.UtxoWithAmount
		}
		jsCall(t, "verifyPostTx", map[string]any{"json": string(body), "pubKeyResponse": vasp1.PubKeyResponseJSON()}, &got)
		if !got.Verified || got.VaspDomain != vasp1.Domain || len(got.Utxos) != 1 || got.Utxos[0] != postTxUtxos[0] {
			t.Fatalf("JS SDK read %+v from %s", got, body)
		}
		jsCall(t, "verifyPostTx", map[string]any{"json": string(body), "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
		if got.Verified {
			t.Fatal("JS SDK verified our callback with the wrong key")
		}
	})
}

// The optional outcome fields (transactionStatus, errorCode, errorReason;
// Python 1.5.7+/Kotlin) are not signed and unknown to uma-go-sdk v1.5.1 and
// the JS SDK 1.5.0: both must still parse and verify a callback carrying them.
func TestPostTransactionCallbackStatus(t *testing.T) {
	c := &uma.PostTransactionCallback{
		Utxos: postTxUtxos, VaspDomain: vasp1.Domain,
		TransactionStatus: uma.TransactionFailed, ErrorCode: uma.CodeQuoteExpired, ErrorReason: "quote expired before payment",
	}
	c.Sign(vasp1.Keys.Signing, time.Now())
	body := mustJSON(t, c)
	for _, want := range []string{`"transactionStatus":"FAILED"`, `"errorCode":"QUOTE_EXPIRED"`, `"errorReason":"quote expired before payment"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("our callback lacks %s: %s", want, body)
		}
	}

	t.Run("ours", func(t *testing.T) {
		got, err := ourParseVerifyPostTx(t, body, ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON())))
		if err != nil {
			t.Fatal(err)
		}
		if got.TransactionStatus != uma.TransactionFailed || got.ErrorCode != uma.CodeQuoteExpired || got.ErrorReason != c.ErrorReason {
			t.Errorf("read back %+v", got)
		}
	})

	t.Run("ours→gosdk", func(t *testing.T) {
		cb, err := sdk.ParsePostTransactionCallback(body)
		if err != nil {
			t.Fatalf("uma-go-sdk ParsePostTransactionCallback(%s): %v", body, err)
		}
		if err := sdk.VerifyPostTransactionCallbackSignature(cb, sdkPubKey(t, vasp1), noNonceCheck{}); err != nil {
			t.Fatalf("uma-go-sdk rejects our callback with a status: %v", err)
		}
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		var got struct{ Verified bool }
		jsCall(t, "verifyPostTx", map[string]any{"json": string(body), "pubKeyResponse": vasp1.PubKeyResponseJSON()}, &got)
		if !got.Verified {
			t.Fatalf("JS SDK rejects our callback with a status: %s", body)
		}
	})
}
