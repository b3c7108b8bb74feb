package uma

import (
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkParsePayRequest parses a UMA payreq as a receiver gets it:
// compliance data with 1.2 KB of encrypted travel-rule information.
// go test -run '^$' -bench ParsePayRequest ./uma/
func BenchmarkParsePayRequest(b *testing.B) {
	r := seedPayRequest()
	if r.PayerData == nil || r.PayerData.Compliance == nil {
		b.Fatal("the seed payreq has no compliance data")
	}
	r.PayerData.Compliance.EncryptedTravelRuleInfo = strings.Repeat("ab", 600)
	body, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParsePayRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
