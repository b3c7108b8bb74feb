package uma

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Address is an UMA address ($bob@vasp2.com) or a plain Lightning Address
// (bob@wallet.example, LUD-16). The zero value is not a valid address.
type Address struct {
	User   string // without the "$", lowercase
	Domain string // host[:port], lowercase
	UMA    bool   // written with a leading "$"
}

// maxUserLen follows the JS SDK: 64 characters, not counting the "$".
const maxUserLen = 64

// maxDomainLen bounds a domain, port included (DNS's 253).
const maxDomainLen = 253

// MaxAddressLen is the longest Address.String() of an address ParseAddress
// accepts: "$", the user part, "@" and the domain. The input itself may be
// longer (surrounding spaces): store the normalised form.
const MaxAddressLen = 1 + maxUserLen + 1 + maxDomainLen

// ParseAddress parses "$user@domain[:port]" (UMA) or "user@domain[:port]"
// (Lightning Address), trimming surrounding spaces and normalising case.
// The user part may hold a-z 0-9 - _ . + (case-insensitive, at most 64
// characters); the domain is checked by ValidateDomain. Failures are
// INVALID_INPUT *Errors.
func ParseAddress(s string) (Address, error) {
	s = strings.TrimSpace(s)
	uma := strings.HasPrefix(s, "$")
	rest := strings.TrimPrefix(s, "$")
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return Address{}, Errorf(CodeInvalidInput, "address %q has no @", truncate(s))
	}
	// Only ASCII is valid: checked before lowercasing, which maps some
	// other characters to ASCII letters (KELVIN SIGN to "k").
	if !isASCII(rest) {
		return Address{}, Errorf(CodeInvalidInput, "address %q has a character that is not ASCII", truncate(s))
	}
	user, domain := strings.ToLower(rest[:at]), strings.ToLower(rest[at+1:])
	if user == "" || len(user) > maxUserLen {
		return Address{}, Errorf(CodeInvalidInput, "address user part must be 1..%d characters", maxUserLen)
	}
	for i := 0; i < len(user); i++ {
		if !isUserChar(user[i]) {
			return Address{}, Errorf(CodeInvalidInput, "address user part has an invalid character")
		}
	}
	if err := ValidateDomain(domain); err != nil {
		return Address{}, err
	}
	return Address{User: user, Domain: domain, UMA: uma}, nil
}

// ParseUMAAddress is ParseAddress that also requires the leading "$".
func ParseUMAAddress(s string) (Address, error) {
	a, err := ParseAddress(s)
	if err != nil {
		return Address{}, err
	}
	if !a.UMA {
		return Address{}, Errorf(CodeInvalidInput, "UMA address must start with $")
	}
	return a, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isUserChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+'
}

// String is the normalised form: "$user@domain" or "user@domain".
func (a Address) String() string {
	if a.User == "" {
		return ""
	}
	if a.UMA {
		return "$" + a.User + "@" + a.Domain
	}
	return a.User + "@" + a.Domain
}

// Normal is a in the form addresses are recorded and compared in: its
// domain in normal form (NormalizeDomain), so that "$bob@x.example.:443"
// is "$bob@x.example". Two addresses name one user on one server when
// their Normal forms are equal.
func (a Address) Normal() Address {
	a.Domain = NormalizeDomain(a.Domain)
	return a
}

// PathSegment is the last segment of the LNURLP path: "$bob" or "bob".
func (a Address) PathSegment() string {
	if a.UMA {
		return "$" + a.User
	}
	return a.User
}

// LnurlpURL is the unsigned LUD-16 URL, e.g. https://vasp2.com/.well-known/lnurlp/$bob.
func (a Address) LnurlpURL() string {
	return BaseURL(a.Domain) + "/.well-known/lnurlp/" + a.PathSegment()
}

// ValidateDomain accepts a DNS name or IPv4 address, optionally with a
// ":port": lowercase letters, digits, "-" and "." (the JS SDK rule plus a
// port). It exists so that a domain taken from a message (vaspDomain, an
// identifier) can be put into a URL without changing its path or query.
func ValidateDomain(domain string) error {
	host, port := splitHostPort(domain)
	if host == "" || len(domain) > maxDomainLen {
		return Errorf(CodeInvalidInput, "invalid domain %q", truncate(domain))
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return Errorf(CodeInvalidInput, "invalid domain %q", truncate(domain))
		}
	}
	if host[0] == '.' || host[0] == '-' || strings.Contains(host, "..") {
		return Errorf(CodeInvalidInput, "invalid domain %q", truncate(domain))
	}
	if strings.Contains(domain, ":") {
		if port == "" || len(port) > 5 {
			return Errorf(CodeInvalidInput, "invalid port in domain %q", truncate(domain))
		}
		n := 0
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return Errorf(CodeInvalidInput, "invalid port in domain %q", truncate(domain))
			}
			n = n*10 + int(port[i]-'0')
		}
		if n == 0 || n > 65535 {
			return Errorf(CodeInvalidInput, "invalid port in domain %q", truncate(domain))
		}
	}
	return nil
}

// NormalizeDomain is the form in which domains are compared: lower case,
// without a trailing dot on the host ("X.com.:8443" is "x.com:8443") and
// without the default port of the scheme the domain is reached over
// (Scheme): "x.com:443" is "x.com", and so is "localhost:80" "localhost",
// a local domain being reached over plain http. ValidateDomain accepts
// each of these spellings, and each names the same server: "is this
// address ours?" and "is this VASP denied?" must not be answered otherwise
// for one of them. Another port stays: x.com:8443 is not x.com, nor is
// localhost:443 localhost.
func NormalizeDomain(domain string) string {
	d := strings.ToLower(domain)
	host, port := d, ""
	if i := strings.LastIndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i:]
	}
	host = strings.TrimSuffix(host, ".")
	if port == ":443" && Scheme(host) == "https" || port == ":80" && Scheme(host) == "http" {
		port = ""
	}
	return host + port
}

// SameDomain reports whether a and b name the same domain
// (NormalizeDomain).
func SameDomain(a, b string) bool { return NormalizeDomain(a) == NormalizeDomain(b) }

func splitHostPort(domain string) (host, port string) {
	if i := strings.LastIndexByte(domain, ':'); i >= 0 {
		return domain[:i], domain[i+1:]
	}
	return domain, ""
}

// IsLocalDomain applies the rule every SDK uses to pick plain http: the host
// (port stripped) is localhost or 127.0.0.1, or ends in .local or .internal.
// A trailing dot on the host is no other host ("localhost." is localhost,
// as NormalizeDomain has it): the SDKs keep it, and would reach
// "localhost." over https, a server other than the one its normal form
// names.
func IsLocalDomain(domain string) bool {
	host, _ := splitHostPort(strings.ToLower(domain))
	if h, _, err := net.SplitHostPort(domain); err == nil {
		host = strings.ToLower(h)
	}
	host = strings.TrimSuffix(host, ".")
	return host == "localhost" || host == "127.0.0.1" ||
		strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal")
}

// Scheme is "http" for local domains (IsLocalDomain) and "https" otherwise.
func Scheme(domain string) string {
	if IsLocalDomain(domain) {
		return "http"
	}
	return "https"
}

// BaseURL is scheme://domain, e.g. "https://vasp2.com" or "http://localhost:8081".
func BaseURL(domain string) string { return Scheme(domain) + "://" + domain }

// CheckBaseURL reports whether s can be a VASP's public base URL: the URL
// counterparties are given, with paths appended (the payreq callback, the
// UMA-request endpoint, utxo callbacks). It must be http or https with a
// host and at most a path: user info would hand a credential to every
// counterparty, and a query or fragment would swallow the appended path.
// Errors never echo the URL, whose user info, query or fragment may be
// secret.
func CheckBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"), u.Opaque != "":
		return errors.New("must be an absolute http or https URL")
	case u.User != nil:
		return errors.New("must not carry a user name or password (user:password@): counterparties are sent this URL")
	case u.Hostname() == "":
		return errors.New("has no host")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("must not have a query (?…): paths are appended to it")
	case strings.Contains(s, "#"):
		return errors.New("must not have a fragment (#…): paths are appended to it")
	case !validURLPort(u.Port()):
		return errors.New("has a port out of range: want 1 to 65535, or none")
	}
	return nil
}

// validURLPort reports whether p, a URL's port (url.URL.Port: digits or
// ""), is none or one a connection can be made to: url.Parse takes any
// digits, so https://host:99999 parses, and every URL built on it would
// reach nobody.
func validURLPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// truncate shortens hostile input before it is echoed in an error reason,
// between characters, as vaspd.Truncate does (uma, the protocol package,
// imports nothing of vaspd's).
func truncate(s string) string {
	n := 64
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
