package main

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store/sqlite"
)

// cliAudit is every vaspd command and subcommand, and whether what it
// changes in the database is in the audit trail: the route its events
// carry, or why it has none.
var cliAudit = map[string]struct{ route, notAudited string }{
	"serve":           {route: "vaspd serve"}, // its first start mints the admin token
	"config show":     {notAudited: "prints the settings; opens no database"},
	"token create":    {route: "vaspd token create"},
	"token list":      {notAudited: "a read"},
	"token delete":    {route: "vaspd token delete"},
	"keys show":       {notAudited: "a read"},
	"keys forget":     {route: "vaspd keys forget"},
	"ledger accounts": {notAudited: "a read"},
	"ledger check":    {notAudited: "a read: audits the ledger, changes nothing"},
	"backup":          {notAudited: "copies the SQLite database to a new file; changes nothing in it"},
	"webhooks":        {notAudited: "calls the platform API with a token: its requests are audited there"},
	"demo":            {notAudited: "runs two VASPs on databases of its own, removed when it ends"},
	"version":         {notAudited: "prints the version"},
}

// TestCLICommandsDecideAudit: every command vaspd has, and every
// subcommand of one, is in cliAudit: a command added to the CLI, or a
// subcommand to one, fails here until it is decided whether what it
// changes is audited. The subcommands are those a command names when
// given one it does not know.
func TestCLICommandsDecideAudit(t *testing.T) {
	want := regexp.MustCompile(`unknown command "[^"]*" \(want ([^)]*)\)`)
	var got []string
	for _, c := range commands() {
		_, _, errs := runCmd(c.name, "no-such-subcommand")
		m := want.FindStringSubmatch(errs)
		if m == nil {
			got = append(got, c.name)
			continue
		}
		for _, sub := range regexp.MustCompile(`, | or `).Split(m[1], -1) {
			got = append(got, c.name+" "+sub)
		}
	}
	var decided []string
	for k, d := range cliAudit {
		decided = append(decided, k)
		if (d.route == "") == (d.notAudited == "") {
			t.Errorf("%s: want either the route of its audit events or why it has none", k)
		}
	}
	slices.Sort(got)
	slices.Sort(decided)
	if !slices.Equal(got, decided) {
		t.Errorf("vaspd's commands:\n got  %q\n want %q (cliAudit)", got, decided)
	}
}

// TestServeBootstrapIsAudited: the admin token a first `vaspd serve`
// mints, the credential every other one descends from, is in the audit
// trail as the CLI's own changes are (route "vaspd serve", its id the
// resource), written in the transaction that creates it; a later start
// mints nothing and records nothing. The token a regulator saw acting
// first had no record of where it came from.
func TestServeBootstrapIsAudited(t *testing.T) {
	dir := t.TempDir()
	_, stop := serveInProcess(t, dir)
	stop()
	_, stop = serveInProcess(t, dir)
	stop()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tokens, err := auth.NewTokens(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := tokens.List(ctx, auth.ListFilter{Limit: 10})
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens after two starts: %+v, %v; want the admin token", toks, err)
	}
	events, err := audit.New(db, nil).List(ctx, audit.Filter{Route: "vaspd serve", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("%d audit events of vaspd serve, want 1: %+v", len(events), events)
	}
	e := events[0]
	if e.Method != "CLI" || e.TokenID != audit.CLITokenID || !strings.HasPrefix(e.TokenName, "cli:") ||
		e.ResourceID != toks[0].ID || e.PathParams["tokenId"] != toks[0].ID || e.Outcome == nil || e.Outcome.Status != 200 {
		t.Errorf("vaspd serve's audit event %+v (outcome %+v); want the admin token %s's creation", e, e.Outcome, toks[0].ID)
	}
}
