package uma

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, norm string
		uma      bool
		ok       bool
	}{
		{"$Bob@VASP2.com", "$bob@vasp2.com", true, true},
		{" $bob@localhost:8081 ", "$bob@localhost:8081", true, true},
		{"bob@wallet.example", "bob@wallet.example", false, true},
		{"$bob@vasp2.com:0", "", true, false},
		{"$bob@vasp2.com:70000", "", true, false},
		{"$bob@vasp2.com:", "", true, false},
		{"$bob@vasp2.com/path", "", true, false},
		{"$bob@vasp2.com?x=1", "", true, false},
		{"$bob@.vasp2.com", "", true, false},
		{"$bob", "", true, false},
		{"$b@b@vasp.com", "", true, false},
		{"$", "", true, false},
		// Non-ASCII letters that lowercase to ASCII (KELVIN SIGN → k) are
		// not the letters they resemble.
		{"$\u212Aarl@vasp2.com", "", true, false},
		{"$karl@\u212Avasp.com", "", true, false},
		{"$b\u00f6b@vasp2.com", "", true, false},
		{"", "", false, false},
	} {
		a, err := ParseAddress(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if err == nil && (a.String() != tc.norm || a.UMA != tc.uma) {
			t.Errorf("%q: %q uma=%v", tc.in, a, a.UMA)
		}
	}
}

func TestSchemeRule(t *testing.T) {
	for domain, want := range map[string]string{
		"localhost":           "http",
		"localhost:8081":      "http",
		"127.0.0.1:9000":      "http",
		"vasp.local":          "http",
		"vasp.internal:443":   "http",
		"vasp2.com":           "https",
		"localhost.evil.com":  "https",
		"local":               "https",
		"127.0.0.2":           "https",
		"myinternal.com:8080": "https",
	} {
		if got := Scheme(domain); got != want {
			t.Errorf("%s: %s, want %s", domain, got, want)
		}
	}
	a, _ := ParseAddress("$bob@localhost:8081")
	if a.LnurlpURL() != "http://localhost:8081/.well-known/lnurlp/$bob" {
		t.Error(a.LnurlpURL())
	}
	b, _ := ParseAddress("bob@vasp2.com")
	if b.LnurlpURL() != "https://vasp2.com/.well-known/lnurlp/bob" || PubKeyURL("vasp2.com") != "https://vasp2.com/.well-known/lnurlpubkey" {
		t.Error(b.LnurlpURL())
	}
}

func TestVersions(t *testing.T) {
	for req, want := range map[string]string{"1.0": "1.0", "1.3": "1.0", "1.12": "1.0", "0.3": "0.3", "0.1": "0.1"} {
		v, err := NegotiateVersion(req)
		if err != nil || v.String() != want {
			t.Errorf("%s: %v %v", req, v, err)
		}
	}
	for _, req := range []string{"2.0", "100.0", "1", "a.b", "1.0.0", "", "-1.0", "1.-1"} {
		_, err := NegotiateVersion(req)
		wantCode(t, err, CodeUnsupportedUMAVersion)
	}
	if _, err := SelectHighestSupportedVersion([]int{2, 3}); err == nil {
		t.Fatal("no common version accepted")
	} else {
		wantCode(t, err, CodeNoCompatibleUMAVersion)
	}
	if v, _ := SelectHighestSupportedVersion([]int{0}); v != Version0 {
		t.Error(v)
	}
	if v, _ := SelectInvoiceVersion("1.0,0.3"); v != Version1 {
		t.Error(v)
	}
	if v, _ := SelectInvoiceVersion("0.3"); v != Version0 {
		t.Error(v)
	}
}

// vaspDomain is lowercased too: KELVIN SIGN must not become "k" there either.
func TestLnurlpVaspDomainNotASCII(t *testing.T) {
	u, err := url.Parse("https://vasp2.com/.well-known/lnurlp/$bob?signature=00&vaspDomain=%E2%84%AAvasp.com&nonce=1&timestamp=1&umaVersion=1.0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseLnurlpRequest(u)
	wantCode(t, err, CodeParseLnurlpRequestError)
}

// MaxAddressLen is the length of the longest address ParseAddress accepts.
func TestMaxAddressLen(t *testing.T) {
	user, domain := strings.Repeat("u", maxUserLen), strings.Repeat("d", maxDomainLen-6)+":65535"
	a, err := ParseAddress(" $" + strings.ToUpper(user) + "@" + domain + " ")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.String()); n != MaxAddressLen {
		t.Fatalf("longest address is %d bytes, MaxAddressLen %d", n, MaxAddressLen)
	}
	for _, s := range []string{"$" + user + "u@" + domain, "$" + user + "@d" + domain} {
		if _, err := ParseAddress(s); err == nil {
			t.Errorf("%d-byte address accepted", len(s))
		}
	}
}

// TestCheckBaseURL: a VASP's public base URL is given to counterparties
// with paths appended, so it is a plain http(s) URL with a host and an
// optional path; the errors name the problem without echoing a secret.
func TestCheckBaseURL(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"https://user:s3cret@pay.example.com", "user name or password"},
		{"https://user@pay.example.com", "user name or password"},
		{"https://pay.example.com/uma?key=s3cret", "query"},
		{"https://pay.example.com/?", "query"},
		{"https://pay.example.com/uma#s3cret", "fragment"},
		{"https://pay.example.com/#", "fragment"},
		{"ftp://pay.example.com", "http or https"},
		{"https://:443", "host"},
		{"/uma", "http or https"},
		{"https://pay.example.com/%zz?s3cret", "not a URL"},
		{"", "http or https"},
		{"https://pay.example.com:99999", "port"},
		{"https://pay.example.com:0/uma", "port"},
		{"http://localhost:65536", "port"},
	} {
		err := CheckBaseURL(c.base)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want one naming %q", c.base, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: err = %v echoes the secret", c.base, err)
		}
	}
	for _, ok := range []string{"https://pay.example.com", "https://pay.example.com:8443/uma/", "http://localhost:8080", "HTTPS://Pay.Example.com/x", "https://pay.example.com:65535"} {
		if err := CheckBaseURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"vasp.example": "vasp.example", "VASP.example.": "vasp.example", "vasp.example:443": "vasp.example",
		"vasp.example.:443": "vasp.example", "vasp.example.:8443": "vasp.example:8443", "localhost:8080": "localhost:8080",
		"10.0.0.1:443": "10.0.0.1",
	} {
		if got := NormalizeDomain(in); got != want {
			t.Errorf("NormalizeDomain(%q) = %q, want %q", in, got, want)
		}
	}
	if !SameDomain("vasp.example.", "VASP.example:443") || SameDomain("vasp.example", "vasp.example:8443") ||
		SameDomain("vasp.example", "vasp.examples") {
		t.Error("SameDomain")
	}
}

// TestNormalizeDomainNamesOneServer: two spellings are the same domain
// (SameDomain) exactly when they are reached at one origin (BaseURL's
// scheme, host and port, a trailing dot aside). NormalizeDomain dropped
// ":443" from every domain, yet a local one is reached over plain http
// (Scheme), on port 80 without a port: "localhost:443" and "localhost"
// were one domain though two servers, and "localhost:80" and "localhost"
// two though one. "localhost." was reached over https, "localhost" over
// http, yet both were one domain.
func TestNormalizeDomainNamesOneServer(t *testing.T) {
	origin := func(d string) string {
		u, err := url.Parse(BaseURL(d))
		if err != nil {
			t.Fatal(err)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return u.Scheme + "://" + strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") + ":" + port
	}
	ds := []string{"localhost", "localhost:443", "localhost:80", "LOCALHOST.", "localhost.:80", "localhost.:443",
		"vasp.local", "vasp.local:443", "vasp.local:80", "vasp.internal.:80", "127.0.0.1", "127.0.0.1:80",
		"127.0.0.1:443", "vasp.example", "vasp.example:443", "Vasp.Example.:443", "vasp.example:80", "vasp.example.:8443"}
	for _, a := range ds {
		for _, b := range ds {
			if same, want := SameDomain(a, b), origin(a) == origin(b); same != want {
				t.Errorf("SameDomain(%q, %q) = %v, but they are reached at %s and %s", a, b, same, origin(a), origin(b))
			}
		}
	}
	for in, want := range map[string]string{
		"localhost:443": "localhost:443", "localhost:80": "localhost", "localhost.:80": "localhost",
		"vasp.local:443": "vasp.local:443", "vasp.example:80": "vasp.example:80", "vasp.example.:443": "vasp.example",
	} {
		if got := NormalizeDomain(in); got != want {
			t.Errorf("NormalizeDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddressNormal(t *testing.T) {
	for in, want := range map[string]string{
		"$Bob@Vasp.Example.:443": "$bob@vasp.example", "bob@vasp.example:443": "bob@vasp.example",
		"$bob@vasp.example:8443": "$bob@vasp.example:8443", "$bob@localhost:443": "$bob@localhost:443",
		"$bob@localhost.:80": "$bob@localhost", "$b.o+b@10.0.0.1.": "$b.o+b@10.0.0.1",
	} {
		a, err := ParseAddress(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Normal(); got.String() != want || got.UMA != a.UMA || got.User != a.User {
			t.Errorf("%q.Normal() = %+v, want %s", in, got, want)
		}
	}
}
