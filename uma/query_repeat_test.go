package uma

import (
	"net/url"
	"strings"
	"testing"
)

// A query naming a parameter twice is ambiguous: which amount, which
// signature? Both parsers refuse it rather than read the first, naming
// the parameter; so is a payreq giving payer data under both of its
// spellings (UMA's payerData, LUD-18's payerdata).
func TestQueryRepeatedParameter(t *testing.T) {
	for _, raw := range []string{
		"amount=1000&amount=2000",
		"amount=1000.USD&convert=USD&convert=EUR",
		"amount=1000&comment=a&comment=b",
		"amount=1000&payerData=%7B%7D&payerdata=%7B%7D",
		"amount=1000&invoiceUUID=a&invoiceUUID=b",
	} {
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParsePayRequestQuery(q)
		wantCode(t, err, CodeParsePayreqRequestError)
		if err != nil && !strings.Contains(err.Error(), "once") {
			t.Errorf("%s: %v, want it to say the parameter goes once", raw, err)
		}
	}
	// Parameters the payreq does not read are not its business.
	if _, err := ParsePayRequestQuery(url.Values{"amount": {"1000"}, "x": {"1", "2"}}); err != nil {
		t.Errorf("an unread parameter repeated: %v", err)
	}

	const lnurlp = "https://vasp2.com/.well-known/lnurlp/$bob?signature=00&vaspDomain=vasp1.com&nonce=1&timestamp=1&umaVersion=1.0"
	for _, extra := range []string{"&nonce=2", "&signature=01", "&vaspDomain=evil.com", "&timestamp=2", "&umaVersion=1.0"} {
		u, err := url.Parse(lnurlp + extra)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseLnurlpRequest(u)
		wantCode(t, err, CodeParseLnurlpRequestError)
	}
	// An unsupported version repeated is still answered 412 first: the
	// order of checks the SDKs keep.
	u, _ := url.Parse("https://vasp2.com/.well-known/lnurlp/$bob?umaVersion=9.0&umaVersion=9.0")
	_, err := ParseLnurlpRequest(u)
	wantCode(t, err, CodeUnsupportedUMAVersion)
}
