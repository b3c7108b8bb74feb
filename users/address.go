package users

import (
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// NormalizeLocal checks an UMA address local part ("alice", "$alice" or
// "Alice") with the uma package's rules (a-z 0-9 - _ . +, at most 64
// characters, case-insensitive) and returns it lower-case without the "$".
// Failures are 400 INVALID_UMA_ADDRESS *vaspd.Errors.
func NormalizeLocal(local string) (string, error) {
	local = strings.TrimPrefix(strings.TrimSpace(local), "$")
	if local == "" {
		return "", invalidAddress("umaAddress is required")
	}
	if strings.ContainsRune(local, '@') {
		return "", invalidAddress("the UMA address local part must not contain @")
	}
	// Reuse the protocol's address rules with a placeholder domain, so the
	// addresses we hand out are exactly the ones other VASPs accept.
	a, err := uma.ParseAddress("$" + local + "@example.com")
	if err != nil {
		return "", invalidAddress("invalid UMA address: the part after $ must be 1 to 64 of a-z 0-9 - _ . +")
	}
	return servable(a.User)
}

// servable refuses the local parts "." and "..". UMA's syntax allows them
// (the SDKs' own tests list "$.@vasp-domain.com" as valid), but no URL can
// name them: /.well-known/lnurlp/.. is /.well-known, for vaspd's router and
// for any other, so such a user could never be looked up or paid.
func servable(local string) (string, error) {
	if local == "." || local == ".." {
		return "", invalidAddress("invalid UMA address: the part after $ must not be %q, which no URL can name", local)
	}
	return local, nil
}

// ParseAddress reads an UMA address of a user of this VASP, whose domain is
// domain, and returns its normalised local part. It accepts "$alice@domain"
// and, as the UMAaaS bulk CSV does, "alice@domain"; a bare "$alice" is
// accepted too. A different domain is a 400 INVALID_UMA_ADDRESS.
func ParseAddress(s, domain string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.ContainsRune(s, '@') {
		return NormalizeLocal(s)
	}
	a, err := uma.ParseAddress(s)
	if err != nil {
		return "", invalidAddress("invalid UMA address %q: want $name@%s", truncate(s), domain)
	}
	// Another spelling of the domain ("vasp.example.", "vasp.example:443")
	// is ours too (uma.NormalizeDomain).
	if !uma.SameDomain(a.Domain, domain) {
		return "", invalidAddress("UMA address %q is not on this VASP's domain %s", truncate(s), domain)
	}
	return servable(a.User)
}

// UMAAddress is the user's full UMA address on domain: "$alice@domain".
func (u User) UMAAddress(domain string) string { return "$" + u.UMALocal + "@" + domain }

func invalidAddress(format string, args ...any) *vaspd.Error {
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress, format, args...)
}

// truncate shortens hostile input before it is echoed or stored.
func truncate(s string) string { return vaspd.Truncate(s, 80) }
