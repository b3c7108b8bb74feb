package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestRequestLogNamesToken: an authenticated request's "http request" log
// line names its token (token_id, the clientId), a 403's too; one that did
// not authenticate names none; no line ever holds a secret.
func TestRequestLogNamesToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs lockedBuffer
		f := newFixtureOpts(t, db, func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) }, nil, nil)
		wrong := f.admin
		wrong.ClientSecret = "not-the-secret"
		for _, c := range []struct {
			id   string
			tok  *auth.CreatedToken
			want any
		}{
			{"admin", &f.admin, f.admin.ClientID},
			{"viewer-403", &f.viewer, f.viewer.ClientID},
			{"wrong-secret", &wrong, nil},
			{"anonymous", nil, nil},
		} {
			st, _, _ := f.send(t, "GET", "/tokens", c.tok, "", "", "X-Request-Id", c.id)
			if st == http.StatusOK && c.tok != &f.admin {
				t.Fatalf("%s: %d", c.id, st)
			}
			found := false
			for line := range strings.Lines(logs.String()) {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if m["msg"] == "http request" && m["request_id"] == c.id {
					found = true
					if m["token_id"] != c.want {
						t.Errorf("%s: token_id %v, want %v", c.id, m["token_id"], c.want)
					}
				}
			}
			if !found {
				t.Fatalf("no http request line for %s:\n%s", c.id, logs.String())
			}
		}
		for _, secret := range []string{f.admin.ClientSecret, f.viewer.ClientSecret, wrong.ClientSecret} {
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("a secret is in the log:\n%s", logs.String())
			}
		}
	})
}
