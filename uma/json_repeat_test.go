package uma

import (
	"net/url"
	"strings"
	"testing"
)

// A counterparty's message naming a key twice in one object (in any case:
// encoding/json matches names so) is refused by every parser, with the
// parser's own code: it would be read as its last value here and perhaps
// as its first by the counterparty's signer or a tool reading what we
// stored. The same message without the repeat parses.
func TestParsersRefuseRepeatedKeys(t *testing.T) {
	for _, tc := range []struct {
		name       string
		once, dup  string
		code       ErrorCode
		parse      func([]byte) error
		dupMention string
	}{
		{"lnurlp response", `{"tag":"payRequest","callback":"https://x.example/cb","minSendable":1,"maxSendable":2,"metadata":"[]"}`,
			`{"tag":"payRequest","callback":"https://x.example/cb","minSendable":1,"maxSendable":2,"metadata":"[]","Callback":"https://evil.example/cb"}`,
			CodeParseLnurlpResponseError, func(b []byte) error { _, err := ParseLnurlpResponse(b); return err }, "Callback"},
		{"payreq response", `{"pr":"lnbc1","routes":[]}`, `{"pr":"lnbc1","routes":[],"pr":"lnbc2"}`,
			CodeParsePayreqResponseError, func(b []byte) error { _, err := ParsePayReqResponse(b); return err }, "pr"},
		{"post-transaction callback", `{"utxos":[],"vaspDomain":"a.example"}`, `{"utxos":[],"vaspDomain":"a.example","vaspdomain":"b.example"}`,
			CodeParseUTXOCallbackError, func(b []byte) error { _, err := ParsePostTransactionCallback(b); return err }, "vaspdomain"},
		{"pubkey response", `{"signingPubKey":"02aa","encryptionPubKey":"02bb"}`, `{"signingPubKey":"02aa","encryptionPubKey":"02bb","signingPubKey":"02cc"}`,
			CodeInvalidPubkeyFormat, func(b []byte) error { _, err := ParsePubKeyResponse(b); return err }, "signingPubKey"},
		{"uma-configuration", `{"uma_request_endpoint":"https://a.example/r"}`, `{"uma_request_endpoint":"https://a.example/r","uma_request_endpoint":"https://b.example/r"}`,
			CodeUMAConfigurationFetchError, func(b []byte) error { _, err := ParseConfiguration(b); return err }, "uma_request_endpoint"},
		{"payreq", `{"amount":1000,"convert":"USD","payerData":{"identifier":"$a@a.example"}}`,
			`{"amount":1000,"convert":"USD","payerData":{"identifier":"$a@a.example","identifier":"$b@b.example"}}`,
			CodeParsePayreqRequestError, func(b []byte) error { _, err := ParsePayRequest(b); return err }, "identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.parse([]byte(tc.once)); err != nil {
				t.Fatalf("without the repeat: %v", err)
			}
			err := tc.parse([]byte(tc.dup))
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), `"`+tc.dupMention+`"`) {
				t.Errorf("%v: want it to name %q", err, tc.dupMention)
			}
		})
	}
	// A GET payreq's JSON parameters alike.
	for _, p := range []string{"payerData", "payeeData", "settlement"} {
		q := url.Values{"amount": {"1000"}, p: {`{"a":{},"A":{}}`}}
		_, err := ParsePayRequestQuery(q)
		wantCode(t, err, CodeParsePayreqRequestError)
	}
}
