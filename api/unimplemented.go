package api

import (
	"net/http"
	"strings"

	"github.com/vaspd/vaspd"
)

// unimplemented lists the UMAaaS operations vaspd does not serve, with the
// permission each would need and what vaspd offers instead. They are
// routed, rather than left to the catch-all's 404, so that a client built
// on UMAaaS is told the call is known and will not work here (501
// NOT_IMPLEMENTED, a code of the document's Error501), and what to do.
var unimplemented = []struct {
	pattern string
	perm    vaspd.Permission
	message string
}{
	// UMAaaS's providers are its other customers; a self-hosted VASP has
	// no such list to give.
	{"GET /uma-providers", vaspd.PermView, "GET /uma-providers is not implemented: vaspd is a self-hosted VASP with " +
		"no directory of UMA providers. Look a receiver up with GET /receiver/{receiverUmaAddress}, and choose the " +
		"VASPs you deal with with the counterparty-allow and counterparty-deny settings"},
}

// unimplementedRoutes answers each unimplemented operation, after
// authentication and its permission like any platform route, with 501.
func (s *Server) unimplementedRoutes() {
	for _, u := range unimplemented {
		err := vaspd.Errorf(http.StatusNotImplemented, vaspd.CodeNotImplemented, "%s", u.message)
		var opts []RouteOption
		if !strings.HasPrefix(u.pattern, "GET ") {
			opts = append(opts, NotAudited(notAuditedNothing))
		}
		s.Handle(u.pattern, u.perm, func(w http.ResponseWriter, r *http.Request) error { return err }, opts...)
	}
}
