package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
	"github.com/vaspd/vaspd/store/storetest"
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
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testServeBootstrapIsAudited(t, func() (*store.DB, error) {
			return sqlite.Open(context.Background(), filepath.Join(dir, "vaspd.db"), nil)
		}, "--data-dir", dir)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		testServeBootstrapIsAudited(t, func() (*store.DB, error) {
			return postgres.Open(context.Background(), u, nil)
		}, "--data-dir", t.TempDir(), "--database-url", u)
	})
}

func testServeBootstrapIsAudited(t *testing.T, open func() (*store.DB, error), flags ...string) {
	_, stop := serveWith(t, flags...)
	stop()
	_, stop = serveWith(t, flags...)
	stop()
	ctx := context.Background()
	db, err := open()
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

// TestCLIReadsChangeNothing: the commands cliAudit calls reads change
// nothing in the database (every table but audit_events compared, row by
// row, before and after) and record no event, and those it says are
// audited record theirs: a "read" that wrote would be an unaudited change.
func TestCLIReadsChangeNothing(t *testing.T) {
	eachCLIDatabase(t, func(t *testing.T, open func() (*store.DB, error), flags ...string) {
		ctx := context.Background()
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tokens, err := auth.NewTokens(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		viewer, err := tokens.Create(ctx, "viewer", []vaspd.Permission{vaspd.PermView})
		if err != nil {
			t.Fatal(err)
		}
		backup := filepath.Join(t.TempDir(), "copy.db")
		for _, c := range []struct {
			command string
			args    []string
		}{
			{"token list", nil},
			{"keys show", nil},
			{"keys forget", nil}, // without --yes: says what it would do
			{"ledger accounts", nil},
			{"ledger check", nil},
			{"backup", []string{"--to", backup}}, // SQLite only; on PostgreSQL the pg_dump hint
			{"token create", []string{"--name", "x", "--permissions", "VIEW"}},
			{"token delete", []string{"--id", viewer.ClientID}},
			{"keys forget", []string{"--yes"}},
		} {
			before, events := snapshot(t, db)
			code, _, errs := runCmd(append(append(strings.Fields(c.command), c.args...), flags...)...)
			if code != 0 && !(c.command == "keys forget" && c.args == nil) && !(c.command == "backup" && db.Driver().Name() == "postgres") {
				t.Errorf("%s %v: exit %d: %s", c.command, c.args, code, errs)
			}
			after, eventsAfter := snapshot(t, db)
			changed := !slices.Equal(before, after)
			d := cliAudit[c.command]
			switch {
			case changed && d.route == "":
				t.Errorf("%s %v changed the database, unaudited (%s)", c.command, c.args, d.notAudited)
			case d.route == "" && eventsAfter != events:
				t.Errorf("%s %v recorded an audit event", c.command, c.args)
			case changed && eventsAfter != events+1:
				t.Errorf("%s %v changed the database with %d audit events", c.command, c.args, eventsAfter-events)
			}
		}
	})
}

// snapshot is every row of every table of db but audit_events, as text,
// sorted, and how many audit events there are.
func snapshot(t *testing.T, db *store.DB) (rows []string, events int) {
	t.Helper()
	ctx := context.Background()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if db.Driver().Name() == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	var tables []string
	r, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var n string
		if err := r.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	r.Close()
	for _, tb := range tables {
		if tb == "audit_events" {
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&events); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r, err := db.QueryContext(ctx, `SELECT * FROM `+tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, fmt.Sprintf("%s %v", tb, vals))
		}
		r.Close()
	}
	slices.Sort(rows)
	return rows, events
}
