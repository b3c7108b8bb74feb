package api_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestUnimplementedUMAaaSRoutes: the UMAaaS operations vaspd does not
// serve answer an authenticated client 501 NOT_IMPLEMENTED, saying what
// vaspd offers instead, rather than the 404 of a route nobody knows: a
// client built on UMAaaS learns that the call is known and will not work.
func TestUnimplementedUMAaaSRoutes(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	f := newFixtureOpts(t, storetest.SQLite(t), func(o *api.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}, nil, nil)
	spec := specschema.IfShared(t)
	for _, c := range []struct {
		method, path, body string
		perm               vaspd.Permission // what the operation would need
		hints              []string         // what the message must offer instead
	}{
		{"GET", "/uma-providers?countryCode=US&limit=5", "", vaspd.PermView,
			[]string{"self-hosted", "no directory", "counterparty-allow"}},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			ct := ""
			if c.body != "" {
				ct = "application/json"
			}
			// Authenticated like every platform route, first.
			st, body, _ := f.send(t, c.method, c.path, nil, ct, c.body)
			wantError(t, st, body, 401, vaspd.CodeUnauthorized)

			st, body, h := f.send(t, c.method, c.path, &f.admin, ct, c.body)
			wantError(t, st, body, 501, vaspd.CodeNotImplemented)
			msg, _ := body["message"].(string)
			for _, hint := range c.hints {
				if !strings.Contains(msg, hint) {
					t.Errorf("message %q does not mention %q", msg, hint)
				}
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
			}
			if spec != nil {
				raw, _ := json.Marshal(body)
				if r := spec.CheckNamed("Error501", raw); !r.OK() {
					t.Errorf("answer breaks the UMAaaS Error501 schema:\n%s\n%s", r, raw)
				}
			}

			// With the viewer's token: refused for want of the permission
			// the operation needs, as UMAaaS would, or told as the admin.
			st, body, _ = f.send(t, c.method, c.path, &f.viewer, ct, c.body)
			if c.perm == vaspd.PermView {
				wantError(t, st, body, 501, vaspd.CodeNotImplemented)
			} else {
				wantError(t, st, body, 403, vaspd.CodeForbidden)
			}
		})
	}
	// A 501 is an answer about vaspd, not a failure of it: the request's
	// own line records it, at INFO; an ERROR would page an operator each
	// time a client tries the call.
	if out := logs.String(); strings.Contains(out, "level=ERROR") || !strings.Contains(out, "status=501") {
		t.Errorf("logs:\n%s", out)
	}
	// A wrong method is a 405 naming the one served, as elsewhere.
	st, body, h := f.send(t, "POST", "/uma-providers", &f.admin, "", "")
	wantError(t, st, body, 405, vaspd.CodeMethodNotAllowed)
	if got := h.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q", got)
	}
}
