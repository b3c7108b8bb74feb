package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/vaspd/vaspd"
)

// The platform API authenticates with HTTP Basic, which a browser that
// once opened it keeps and sends on its own with any request to vaspd's
// origin, a hostile page's cross-site form POST included: a bodyless POST
// (execute a quote, approve a payment, cancel an invitation) or a DELETE
// would then act with the operator's token. net/http's
// CrossOriginProtection tells such requests apart by what browsers add to
// them (Sec-Fetch-Site, or an Origin other than the Host on older
// browsers): GET, HEAD and OPTIONS always pass (they change nothing, and
// the answer carries no CORS header, so the page cannot read it), and so
// does a request without either header, which no browser sends
// cross-origin: a platform's server is unaffected. The check applies to the
// platform routes only (Server.Handle): the UMA endpoints are called
// cross-origin by design, and authenticate nothing a browser keeps.

// newCrossOrigin builds the check, trusting origins (Options.TrustedOrigins).
// It panics on an origin TrustedOrigin refuses: callers validate
// configuration with TrustedOrigin first, as vaspd serve does at start.
func newCrossOrigin(origins []string) *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	for _, o := range origins {
		canon, err := TrustedOrigin(o)
		if err == nil {
			err = c.AddTrustedOrigin(canon)
		}
		if err != nil {
			panic("api: Options.TrustedOrigins: " + err.Error())
		}
	}
	return c
}

// crossOrigin refuses a browser's cross-origin state-changing request with
// the platform API's error JSON, before its credentials are read: the
// refusal tells nothing about them, and does not count as a failed
// authentication.
func (s *Server) crossOrigin(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.csrf.Check(r); err != nil {
			return vaspd.Errorf(http.StatusForbidden, vaspd.CodeCrossOriginForbidden,
				"a web page of another origin sent this %s request through a browser, which the platform API refuses "+
					"(cross-site request forgery); call it from a server, or have the operator trust the page's origin (api-trusted-origins)",
				vaspd.Truncate(r.Method, 20))
		}
		return h(w, r)
	}
}

// TrustedOrigin checks an origin to trust and returns it as browsers send it
// in the Origin header, which CrossOriginProtection compares byte for byte:
// scheme and host in lower case, no default port, no trailing slash. It
// must be http(s)://host[:port], host a DNS name in ASCII (an IDN in its
// xn-- form, as browsers send it) or an IP address; no wildcard, user,
// path, query or fragment. Errors quote the value (an origin is no secret).
func TrustedOrigin(v string) (string, error) {
	v = strings.TrimSpace(v)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%q is not an origin: %s", vaspd.Truncate(v, 200), why)
	}
	const shape = "want http(s)://host[:port], as a browser's Origin header"
	u, err := url.Parse(v)
	if err != nil {
		return bad(shape)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" || u.Opaque != "" || u.Host == "" {
		return bad(shape)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#") {
		return bad("no user, path, query or fragment; " + shape)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return bad("empty port; " + shape)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("port out of range")
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = "" // browsers leave the scheme's default port out
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return bad("an address with a zone is no origin")
		}
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if !dnsName(host) {
		return bad("the host must be a DNS name in ASCII (an IDN in its xn-- form) or an IP address, without wildcards")
	}
	out := scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

// dnsName: letters, digits, '-' and '.', in dot-separated labels.
func dnsName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
