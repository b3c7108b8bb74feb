package uma

import (
	"encoding/json"
	"strings"
	"testing"
)

// An UMA response with no currencies still carries "currencies":[] (the Go
// and JS SDKs read a response without the key as plain LNURL); a plain
// LNURL response without currencies has no such key.
func TestLnurlpResponseCurrenciesKey(t *testing.T) {
	uma := LnurlpResponse{
		Callback: "https://vasp2.example/cb", MinSendable: 1000, MaxSendable: 1_000_000, Metadata: "[]",
		PayerData:  CounterpartyDataOptions{"identifier": {Mandatory: true}, "compliance": {Mandatory: true}},
		Compliance: &LnurlComplianceResponse{KycStatus: KycVerified, ReceiverIdentifier: "$bob@vasp2.example"},
		UmaVersion: "1.0",
	}
	for name, cs := range map[string][]Currency{"nil": nil, "empty": {}} {
		uma.Currencies = cs
		out, err := json.Marshal(uma)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"currencies":[]`) {
			t.Errorf("%s: UMA response without currencies key: %s", name, out)
		}
		back, err := ParseLnurlpResponse(out)
		if err != nil || !back.IsUMA() {
			t.Errorf("%s: UMA response reads back as plain LNURL (%v): %s", name, err, out)
		}
	}
	plain := LnurlpResponse{Callback: "https://vasp2.example/cb", MinSendable: 1000, MaxSendable: 1_000_000, Metadata: "[]"}
	for name, cs := range map[string][]Currency{"nil": nil, "empty": {}} {
		plain.Currencies = cs
		out, err := json.Marshal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "currencies") {
			t.Errorf("%s: plain LNURL response carries currencies: %s", name, out)
		}
	}
	// A plain LNURL response may still offer currencies (LUD-21).
	plain.Currencies = []Currency{{Code: "USD", Multiplier: 34150, Decimals: 2, Convertible: Convertible{1, 100}}}
	if out, _ := json.Marshal(plain); !strings.Contains(string(out), `"currencies":[{"code":"USD"`) {
		t.Errorf("plain LNURL currencies dropped: %s", out)
	}
}
