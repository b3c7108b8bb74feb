package interop

import (
	"context"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/uma"
)

// UMA invoices (UMAD-09). The integer encoding split (uma-protocol.md §0
// rule 18, §6.7 #2) decides the outcome: uma-go-sdk writes integers as ASCII
// decimal, the JS SDK (like Python and Kotlin) as minimal signed big-endian
// binary. We emit binary and read both.

// invoiceFields is the invoice every test creates.
func invoiceFields(expiration int64) uma.Invoice {
	return uma.Invoice{
		ReceiverUMA: bob, InvoiceUUID: testInvoiceUUID, Amount: 1000,
		ReceivingCurrency:     uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
		Expiration:            expiration,
		IsSubjectToTravelRule: true,
		RequiredPayerData:     uma.UMADataOptions("name"),
		UmaVersions:           "1.0",
		CommentCharsAllowed:   100,
		SenderUMA:             alice,
		MaxNumPayments:        3,
		KycStatus:             uma.KycVerified,
		Callback:              payreqCallback,
	}
}

// ourInvoice creates and signs bob's invoice with our package.
func ourInvoice(t testing.TB, expiration int64) string {
	t.Helper()
	inv := invoiceFields(expiration)
	if err := inv.Sign(vasp2.Keys.Signing); err != nil {
		t.Fatal(err)
	}
	s, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ourDecodeVerifyInvoice is our sender's side for an invoice it is asked to pay.
func ourDecodeVerifyInvoice(t testing.TB, s string, v *uma.Verifier) (*uma.Invoice, error) {
	t.Helper()
	inv, err := uma.DecodeInvoice(s)
	if err != nil {
		t.Fatalf("DecodeInvoice(%s): %v", s, err)
	}
	_, err = v.VerifyInvoice(context.Background(), inv)
	return inv, err
}

func checkOurInvoice(t *testing.T, got *uma.Invoice, expiration int64) {
	t.Helper()
	want := invoiceFields(expiration)
	if got.ReceiverUMA != want.ReceiverUMA || got.InvoiceUUID != want.InvoiceUUID || got.Amount != want.Amount ||
		got.ReceivingCurrency != want.ReceivingCurrency || got.Expiration != want.Expiration ||
		got.IsSubjectToTravelRule != want.IsSubjectToTravelRule || got.UmaVersions != want.UmaVersions ||
		got.CommentCharsAllowed != want.CommentCharsAllowed || got.SenderUMA != want.SenderUMA ||
		got.MaxNumPayments != want.MaxNumPayments || got.KycStatus != want.KycStatus || got.Callback != want.Callback {
		t.Errorf("decoded invoice\n got %+v\nwant %+v", *got, want)
	}
	if len(got.RequiredPayerData) != 3 || !got.RequiredPayerData[uma.DataCompliance].Mandatory || got.RequiredPayerData["name"].Mandatory {
		t.Errorf("requiredPayerData = %+v", got.RequiredPayerData)
	}
}

func TestInvoice(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()

	t.Run("gosdk→ours", func(t *testing.T) {
		opts := sdkprotocol.CounterPartyDataOptions{
			"identifier": {Mandatory: true}, "compliance": {Mandatory: true}, "name": {Mandatory: false},
		}
		comment, kyc, limit, sender := 100, sdkprotocol.KycStatusVerified, uint64(3), alice
		inv, err := sdk.CreateUmaInvoice(bob, 1000,
			sdkprotocol.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
			uint64(exp), payreqCallback, true, &opts, &comment, &kyc, &limit, &sender, vasp2.SigningKeyBytes())
		if err != nil {
			t.Fatal(err)
		}
		s, err := inv.ToBech32String()
		if err != nil {
			t.Fatal(err)
		}
		v := ourVerifier(t, vasp2.Domain, sdkPubKeyJSON(t, vasp2))
		got, err := ourDecodeVerifyInvoice(t, s, v)
		if err != nil {
			t.Fatalf("our verify of uma-go-sdk (ASCII-integer) invoice %s: %v", s, err)
		}
		// CreateUmaInvoice draws its own UUID.
		if got.InvoiceUUID != inv.InvoiceUUID {
			t.Fatalf("invoiceUUID = %q, want %q", got.InvoiceUUID, inv.InvoiceUUID)
		}
		got.InvoiceUUID = testInvoiceUUID
		checkOurInvoice(t, got, exp)
		_, err = ourDecodeVerifyInvoice(t, s, wrongVerifier(t, vasp2.Domain))
		wantCode(t, err, uma.CodeInvalidSignature)
	})

	t.Run("ours→gosdk", func(t *testing.T) {
		// Known SDK bug: uma-go-sdk reads integers as ASCII decimal, so it
		// cannot decode a binary-integer invoice — ours, or Python's, JS's or
		// Kotlin's. Pin the failure; if it ever decodes, it must also verify.
		s := ourInvoice(t, exp)
		inv, err := sdk.DecodeUmaInvoice(s)
		if err != nil {
			t.Logf("uma-go-sdk cannot decode a binary-integer invoice (quirk §6.7 #2): %v", err)
			return
		}
		if inv.Amount != 1000 || inv.Expiration != uint64(exp) {
			t.Logf("uma-go-sdk misreads binary integers (quirk §6.7 #2): amount %d, expiration %d", inv.Amount, inv.Expiration)
			return
		}
		if err := sdk.VerifyUmaInvoiceSignature(*inv, sdkPubKey(t, vasp2)); err != nil {
			t.Fatalf("uma-go-sdk decodes our invoice but rejects its signature: %v", err)
		}
		t.Errorf("uma-go-sdk now reads binary-integer invoices; update docs/interop.md")
	})

	t.Run("jssdk→ours", func(t *testing.T) {
		var out struct{ Bech32 string }
		jsCall(t, "createInvoice", map[string]any{
			"receiverUma": bob, "invoiceUUID": testInvoiceUUID, "amount": 1000,
			"receivingCurrency": map[string]any{"code": "USD", "name": "US Dollar", "symbol": "$", "decimals": 2},
			"expiration":        exp, "isSubjectToTravelRule": true,
			"requiredPayerData": map[string]any{"identifier": map[string]bool{"mandatory": true},
				"compliance": map[string]bool{"mandatory": true}, "name": map[string]bool{"mandatory": false}},
			"commentCharsAllowed": 100, "senderUma": alice, "maxNumPayments": 3, "kycStatus": "VERIFIED",
			"callback": payreqCallback, "privateKey": vasp2.SigningKeyHex,
		}, &out)
		v := ourVerifier(t, vasp2.Domain, []byte(vasp2.PubKeyResponseJSON()))
		got, err := ourDecodeVerifyInvoice(t, out.Bech32, v)
		if err != nil {
			// The JS SDK signs its TLV in object-insertion order (umaVersions
			// after callback): only a verifier that uses the received bytes passes.
			t.Fatalf("our verify of JS invoice %s: %v", out.Bech32, err)
		}
		checkOurInvoice(t, got, exp)
		_, err = ourDecodeVerifyInvoice(t, out.Bech32, wrongVerifier(t, vasp2.Domain))
		wantCode(t, err, uma.CodeInvalidSignature)

		// The JS SDK itself re-serialises in schema (tag) order before
		// verifying, so it rejects its own invoices after a bech32 round trip.
		var self struct{ Verified bool }
		jsCall(t, "verifyInvoice", map[string]any{"bech32": out.Bech32, "publicKey": vasp2.Keys.Signing.PublicKey().Hex()}, &self)
		if self.Verified {
			t.Errorf("the JS SDK now verifies its own decoded invoices; update docs/interop.md")
		}
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		s := ourInvoice(t, exp)
		var got struct {
			Verified     bool
			Reserialized string
			Invoice      struct {
				ReceiverUma, InvoiceUUID, UmaVersions, Callback, SenderUma, KycStatus string
				Amount, Expiration, CommentCharsAllowed, MaxNumPayments               int64
				IsSubjectToTravelRule                                                 bool
				ReceivingCurrency                                                     struct {
					Code, Name, Symbol string
					Decimals           int
				}
				RequiredPayerData map[string]struct{ Mandatory bool }
			}
		}
		jsCall(t, "verifyInvoice", map[string]any{"bech32": s, "publicKey": vasp2.Keys.Signing.PublicKey().Hex()}, &got)
		if !got.Verified {
			// Known JS SDK bug: verifyUmaInvoiceSignature re-serialises the
			// decoded invoice, and its schema lists the currency's name before
			// its code, so the nested tag-3 record comes out as name, code, ...
			// — bytes no implementation signs (the JS SDK fails on its own
			// invoices too). Pin exactly that: the SDK hashed our bytes except
			// for the order inside tag 3.
			ours, err := uma.DecodeInvoice(s)
			if err != nil {
				t.Fatal(err)
			}
			signed, _ := ours.SignablePayload()
			if !onlyCurrencyOrderDiffers(t, signed, mustHex(t, got.Reserialized)) {
				t.Fatalf("JS SDK rejects our invoice %s, and not only because of its currency field order:\n ours %x\n   js %s",
					s, signed, got.Reserialized)
			}
			t.Logf("JS SDK cannot verify decoded invoices (currency name/code reordered); fields decoded correctly")
		} else {
			t.Errorf("the JS SDK now verifies decoded invoices; update docs/interop.md")
		}
		inv := got.Invoice
		if inv.ReceiverUma != bob || inv.InvoiceUUID != testInvoiceUUID || inv.Amount != 1000 || inv.Expiration != exp ||
			inv.ReceivingCurrency.Code != "USD" || inv.ReceivingCurrency.Decimals != 2 || inv.UmaVersions != "1.0" ||
			inv.Callback != payreqCallback || inv.SenderUma != alice || inv.KycStatus != "VERIFIED" ||
			inv.CommentCharsAllowed != 100 || inv.MaxNumPayments != 3 || !inv.IsSubjectToTravelRule ||
			!inv.RequiredPayerData["compliance"].Mandatory {
			t.Errorf("JS decoded %+v", inv)
		}
	})
}

// tlvRecord is one tag-length-value record.
type tlvRecord struct {
	tag byte
	val []byte
}

func tlvRecords(t testing.TB, b []byte) []tlvRecord {
	t.Helper()
	var out []tlvRecord
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			t.Fatalf("truncated TLV %x", b)
		}
		out = append(out, tlvRecord{b[0], b[2 : 2+int(b[1])]})
		b = b[2+int(b[1]):]
	}
	return out
}

// onlyCurrencyOrderDiffers reports whether js equals ours except that the
// records inside the tag-3 currency record are ordered name (1) before code (0).
func onlyCurrencyOrderDiffers(t testing.TB, ours, js []byte) bool {
	t.Helper()
	a, b := tlvRecords(t, ours), tlvRecords(t, js)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].tag != b[i].tag {
			return false
		}
		if a[i].tag != 3 {
			if string(a[i].val) != string(b[i].val) {
				return false
			}
			continue
		}
		ca, cb := tlvRecords(t, a[i].val), tlvRecords(t, b[i].val)
		if len(ca) < 2 || len(ca) != len(cb) || ca[0].tag != 0 || ca[1].tag != 1 || cb[0].tag != 1 || cb[1].tag != 0 ||
			string(ca[0].val) != string(cb[1].val) || string(ca[1].val) != string(cb[0].val) {
			return false
		}
		for j := 2; j < len(ca); j++ {
			if ca[j].tag != cb[j].tag || string(ca[j].val) != string(cb[j].val) {
				return false
			}
		}
	}
	return true
}

// The JS demo VASP writes invoice expirations in milliseconds (§6.7 #21);
// we read them as the same instant in seconds, and the signature still
// verifies because it covers the bytes as received.
func TestInvoiceExpirationMillis(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	var out struct{ Bech32 string }
	jsCall(t, "createInvoice", map[string]any{
		"receiverUma": bob, "invoiceUUID": testInvoiceUUID, "amount": 1000,
		"receivingCurrency": map[string]any{"code": "USD", "name": "US Dollar", "symbol": "$", "decimals": 2},
		"expiration":        exp * 1000, "isSubjectToTravelRule": true,
		"requiredPayerData": map[string]any{"identifier": map[string]bool{"mandatory": true},
			"compliance": map[string]bool{"mandatory": true}},
		"callback": payreqCallback, "privateKey": vasp2.SigningKeyHex,
	}, &out)
	got, err := ourDecodeVerifyInvoice(t, out.Bech32, ourVerifier(t, vasp2.Domain, []byte(vasp2.PubKeyResponseJSON())))
	if err != nil {
		t.Fatalf("our verify of a ms-expiry JS invoice: %v", err)
	}
	if got.Expiration != exp {
		t.Errorf("Expiration = %d, want %d (from %d ms)", got.Expiration, exp, exp*1000)
	}
}
