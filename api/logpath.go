package api

import (
	"path"
	"strings"

	"github.com/vaspd/vaspd"
)

// personalPaths are the paths whose rest names a person or holds a
// secret: a user's UMA name (the UMA endpoints a counterparty calls for
// one of our users, and the catch-alls under them), a counterparty's UMA
// address (the platform's lookup), or an invitation's code (a bearer
// secret: whoever has it may claim the invitation). UMA addresses and
// secrets stay out of logs: logPath writes the rest as placeholder.
var personalPaths = []struct{ prefix, placeholder string }{
	{"/.well-known/lnurlp/", "{user}"},
	{"/api/uma/payreq/", "{user}"},
	{"/receiver/", "{receiver}"},
	{"/invitations/", "{code}"},
	// An invitation's link, <base-url>/i/<code>, is the platform's front
	// end's to serve; with the default base-url it reaches vaspd, which
	// answers 404 and must not log the code.
	{"/i/", "{code}"},
}

// logPath is request path p as logged: p, cut to 200 bytes, or, where a
// personal path's prefix (personalPaths) is in it, what comes before and
// the prefix, and a placeholder for all that follows, the name and any
// further segment alike. The prefix is looked for anywhere in p, in any
// case, then in p cleaned (path.Clean): a person's name in a path the
// router refuses (an unmatched case, a redirected "//", dot segments
// after the name, which cleaning would take the prefix away with) is one
// all the same. The route pattern, logged beside it, and the request id
// say the rest.
func logPath(p string) string {
	for _, s := range []string{p, path.Clean(p)} {
		lower := asciiLower(s) // byte for byte: its indexes are s's
		for _, pp := range personalPaths {
			if i := strings.Index(lower, pp.prefix); i >= 0 && len(s) > i+len(pp.prefix) {
				return vaspd.Truncate(s[:i+len(pp.prefix)], 200) + pp.placeholder
			}
		}
	}
	return vaspd.Truncate(p, 200)
}

// asciiLower is s with A-Z lowered and every other byte as it is.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
