package vasp

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The platform reads a sender's payer data by UMAaaS field names, as
// UMAaaS's counterpartyInformation is keyed, never LUD-18's.
func TestCounterpartyInformationUsesUMAaaSNames(t *testing.T) {
	for _, tc := range []struct {
		name, payerData string
		want            map[string]any
	}{
		{"absent", ``, nil},
		{"not JSON", `{`, nil},
		{"only compliance", `{"compliance":{"kycStatus":"VERIFIED"}}`, nil},
		{"LUD-18 keys renamed, compliance, nulls and empty strings left out",
			`{"identifier":"$alice@a.example","name":"Alice","email":null,"phoneNumber":"","nationality":"FR","compliance":{"utxos":[]}}`,
			map[string]any{"IDENTIFIER": "$alice@a.example", "FULL_NAME": "Alice", "NATIONALITY": "FR"}},
		{"unknown keys kept as sent", `{"identifier":"$a@a.example","favouriteColour":"blue"}`,
			map[string]any{"IDENTIFIER": "$a@a.example", "favouriteColour": "blue"}},
		{"a sender's own FULL_NAME does not replace its name", `{"FULL_NAME":"Mallory","name":"Alice"}`,
			map[string]any{"FULL_NAME": "Alice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 { // map order varies between runs
				got := counterpartyInformation(json.RawMessage(tc.payerData))
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("counterpartyInformation(%s) = %v, want %v", tc.payerData, got, tc.want)
				}
			}
		})
	}
}
