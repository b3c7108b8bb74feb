package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
)

// TestTokenCLIIsAudited: `vaspd token create` and `delete` change who may
// use the platform API without a credential of their own: each is in the
// audit trail with the API's (route "vaspd token create", method CLI,
// token "cli" named after the OS user), its outcome after it — a refused
// delete included — and never the secret the create printed.
func TestTokenCLIIsAudited(t *testing.T) {
	eachCLIDatabase(t, func(t *testing.T, open func() (*store.DB, error), flags ...string) {
		db, err := open() // a database at this binary's migrations
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		code, out, errs := runCmd(append([]string{"token", "create", "--name", "ops", "--permissions", "VIEW"}, flags...)...)
		if code != 0 {
			t.Fatalf("token create: exit %d: %s", code, errs)
		}
		id := regexp.MustCompile(`clientId: +(\S+)`).FindStringSubmatch(out)
		secret := regexp.MustCompile(`clientSecret: +(\S+)`).FindStringSubmatch(out)
		if id == nil || secret == nil {
			t.Fatalf("token create printed %q", out)
		}
		if code, _, errs := runCmd(append([]string{"token", "delete", "--id", id[1]}, flags...)...); code != 0 {
			t.Fatalf("token delete: exit %d: %s", code, errs)
		}
		const missing = "Token:01a2475f-ae17-7712-ad8b-bf6e3baddfb9"
		if code, _, _ := runCmd(append([]string{"token", "delete", "--id", missing}, flags...)...); code == 0 {
			t.Fatal("deleting a token that does not exist succeeded")
		}

		if db, err = open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		events, err := audit.New(db, nil).List(context.Background(), audit.Filter{TokenID: audit.CLITokenID, Ascending: true, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		type want struct {
			route, resource string
			status          int
			code            string
		}
		wants := []want{{"vaspd token create", id[1], 200, ""}, {"vaspd token delete", id[1], 200, ""},
			{"vaspd token delete", missing, 404, "TOKEN_NOT_FOUND"}}
		if len(events) != len(wants) {
			t.Fatalf("%d CLI audit events, want %d: %+v", len(events), len(wants), events)
		}
		for i, e := range events {
			w := wants[i]
			if e.Route != w.route || e.Method != "CLI" || e.ResourceID != w.resource || !strings.HasPrefix(e.TokenName, "cli:") ||
				!strings.HasPrefix(e.ClientAddress, "local:") || e.Outcome == nil || e.Outcome.Status != w.status ||
				(w.code != "" && e.Outcome.ErrorCode != w.code) {
				t.Errorf("event %d = %+v (outcome %+v), want %+v", i, e, e.Outcome, w)
			}
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_events
			WHERE token_name LIKE $1 OR path_params LIKE $1 OR client_address LIKE $1 OR request_id LIKE $1 OR route LIKE $1`,
			"%"+secret[1]+"%").Scan(&n); err != nil || n != 0 {
			t.Fatalf("the token's secret is in %d audit events (%v)", n, err)
		}
	})
}
