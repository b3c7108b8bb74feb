package uma_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/uma"
)

// A counterparty's JSON of the wrong shape is refused in JSON's words:
// encoding/json's own text names the Go type the value did not fit, which
// tells the sender nothing and says how we are built.
func TestParseErrorsSpeakJSON(t *testing.T) {
	for _, c := range []struct {
		name  string
		parse func([]byte) error
		body  string
		want  string
	}{
		{"payreq array", func(b []byte) error { _, err := uma.ParsePayRequest(b); return err }, `[]`, "a JSON array where an object was expected"},
		{"payreq compliance", func(b []byte) error { _, err := uma.ParsePayRequest(b); return err },
			`{"amount":"1000.USD","convert":"USD","payerData":{"compliance":[]}}`, "invalid payerData: a JSON array where an object was expected"},
		{"payreq amount", func(b []byte) error { _, err := uma.ParsePayRequest(b); return err }, `{"amount":{}}`, ""},
		{"callback", func(b []byte) error { _, err := uma.ParsePostTransactionCallback(b); return err }, `[1]`, "a JSON array where an object was expected"},
		{"payreq response", func(b []byte) error { _, err := uma.ParsePayReqResponse(b); return err }, `[true]`, "a JSON array where an object was expected"},
		{"lnurlp response", func(b []byte) error { _, err := uma.ParseLnurlpResponse(b); return err }, `"x"`, "a JSON string where an object was expected"},
	} {
		err := c.parse([]byte(c.body))
		var ue *uma.Error
		if !errors.As(err, &ue) {
			t.Errorf("%s: %v, want an *uma.Error", c.name, err)
			continue
		}
		for _, goWords := range []string{"Go value", "Go struct", "struct {", "json.RawMessage", "uma."} {
			if strings.Contains(ue.Reason, goWords) {
				t.Errorf("%s: reason %q speaks Go (%q)", c.name, ue.Reason, goWords)
			}
		}
		if !strings.Contains(ue.Reason, c.want) {
			t.Errorf("%s: reason %q, want it to say %q", c.name, ue.Reason, c.want)
		}
	}
}
