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
}

// logPath is request path p as logged: p, cut to 200 bytes, or, under a
// personal path (personalPaths), its prefix and a placeholder for all
// that follows, the name and any further segment alike. The prefix is
// found in p cleaned (path.Clean) and in any case, as a person's name in
// a path the router refuses (an unmatched case, a redirected "//") is
// one all the same. The route pattern, logged beside it, and the request
// id say the rest.
func logPath(p string) string {
	clean := path.Clean(p)
	for _, pp := range personalPaths {
		if len(clean) > len(pp.prefix) && strings.EqualFold(clean[:len(pp.prefix)], pp.prefix) {
			return clean[:len(pp.prefix)] + pp.placeholder
		}
	}
	return vaspd.Truncate(p, 200)
}
