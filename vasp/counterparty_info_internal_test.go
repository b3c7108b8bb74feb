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

// A counterparty's NUL (JSON "\u0000"), in a value or a key, at any depth,
// reaches the platform as U+FFFD: a platform keeping webhooks or API
// answers as PostgreSQL jsonb or text would refuse them whole for one.
func TestCounterpartyInformationHasNoNUL(t *testing.T) {
	got := counterpartyInformation(json.RawMessage(`{"name":"Al\u0000ice","x\u0000":"y",` +
		`"postalAddress":{"line\u0000":["a\u0000b",{"c":"\u0000"}]},"n":1}`))
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"FULL_NAME":"Al\ufffdice","POSTAL_ADDRESS":{"line\ufffd":["a\ufffdb",{"c":"\ufffd"}]},"n":1,"x\ufffd":"y"}`
	var w any
	_ = json.Unmarshal([]byte(want), &w)
	wb, _ := json.Marshal(w)
	if string(b) != string(wb) {
		t.Errorf("counterpartyInformation = %s, want %s", b, wb)
	}
}
