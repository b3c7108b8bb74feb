package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestTokenCLIDoesNotMigrate: `vaspd token` may run beside a server of
// another version, so it never changes the schema. It refuses a database
// behind this binary (empty or partly migrated) and leaves it as it was,
// refuses one a newer binary migrated, and works on one exactly at this
// binary's migrations.
func TestTokenCLIDoesNotMigrate(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "vaspd.db")
		code, _, errs := runCmd("token", "list", "--data-dir", dir)
		if code != 1 || !strings.Contains(errs, "no database at") || !strings.Contains(errs, "start `vaspd serve`") {
			t.Errorf("no database: exit %d, stderr %q", code, errs)
		}
		if _, err := os.Stat(path); err == nil {
			t.Error("token list created the database")
		}
		if err := os.WriteFile(path, nil, 0o600); err != nil { // an empty SQLite database
			t.Fatal(err)
		}
		db, err := sqlite.Connect(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		testTokenCLISchema(t, db, "--data-dir", dir)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		db, err := postgres.Connect(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		testTokenCLISchema(t, db, "--database-url", u)
	})
}

// pad4 is how migration versions are printed.
func pad4(v int) string { return fmt.Sprintf("%04d", v) }

// testTokenCLISchema runs the token CLI, with flags naming db, against db
// empty, partly migrated, migrated and migrated by a newer binary.
func testTokenCLISchema(t *testing.T, db *store.DB, flags ...string) {
	ctx := context.Background()
	defer db.Close()
	token := func(args ...string) (int, string, string) {
		return runCmd(append(append([]string{"token"}, args...), flags...)...)
	}
	ms, err := store.Migrations(db.Driver().MigrationVariant())
	if err != nil {
		t.Fatal(err)
	}
	last := ms[len(ms)-1].Version
	applied := func() (n int) {
		t.Helper()
		if ok, err := db.Driver().TableExists(ctx, db, "schema_migrations"); err != nil || !ok {
			return -1 // no table at all
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	code, _, errs := token("create", "--name", "early", "--permissions", "VIEW")
	if code != 1 || !strings.Contains(errs, "no migrations applied") || !strings.Contains(errs, "start `vaspd serve` (which migrates) first") {
		t.Errorf("empty database: exit %d, stderr %q", code, errs)
	}
	if n := applied(); n != -1 {
		t.Errorf("token create on an empty database migrated it: schema_migrations has %d rows", n)
	}

	if err := db.MigrateBefore(ctx, last); err != nil {
		t.Fatal(err)
	}
	code, _, errs = token("create", "--name", "early", "--permissions", "VIEW")
	want := "is at migration " + pad4(ms[len(ms)-2].Version) + ", this vaspd expects " + pad4(last) + ": start `vaspd serve` (which migrates) first"
	if code != 1 || !strings.Contains(errs, want) {
		t.Errorf("database one migration behind: exit %d, stderr %q; want %q", code, errs, want)
	}
	if n := applied(); n != len(ms)-1 {
		t.Errorf("token create on a database behind migrated it: %d of %d migrations applied", n, len(ms))
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errs := token("create", "--name", "ops", "--permissions", "VIEW")
	if code != 0 || !strings.Contains(out, "clientId:") {
		t.Fatalf("migrated database: exit %d, stderr %q", code, errs)
	}
	if code, out, errs := token("list"); code != 0 || strings.Count(out, `"name":"ops"`) != 1 {
		t.Errorf("token list: exit %d, out %q, stderr %q", code, out, errs)
	}

	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future', 0)`, last+1); err != nil {
		t.Fatal(err)
	}
	code, _, errs = token("create", "--name", "late", "--permissions", "VIEW")
	if code != 1 || !strings.Contains(errs, "does not know migration "+pad4(last+1)) ||
		!strings.Contains(errs, "this vaspd binary is older than the database; use the newer binary") {
		t.Errorf("database a newer vaspd migrated: exit %d, stderr %q", code, errs)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens`).Scan(&n); err != nil || n != 1 {
		t.Errorf("tokens after the refusals: %d (%v), want 1", n, err)
	}
}

// TestTokenCLIUsage: `vaspd token -h` and an unknown command are answered
// without opening (or needing) a database.
func TestTokenCLIUsage(t *testing.T) {
	dir := t.TempDir()
	if code, out, _ := runCmd("token", "-h", "--data-dir", dir); code != 0 || !strings.Contains(out, "Usage: vaspd token create") {
		t.Errorf("token -h: exit %d, stdout %q", code, out)
	}
	if code, _, errs := runCmd("token", "mint", "--data-dir", dir); code != 2 || !strings.Contains(errs, `unknown command "mint"`) {
		t.Errorf("token mint: exit %d, stderr %q", code, errs)
	}
	if code, out, _ := runCmd("token", "create", "-h"); code != 0 || !strings.Contains(out, "-permissions") {
		t.Errorf("token create -h: exit %d, stdout %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "vaspd.db")); err == nil {
		t.Error("the usage created a database")
	}
}

// `vaspd token list` lists every live token, page after page, not the
// first page alone.
func TestTokenListShowsEveryToken(t *testing.T) {
	old := tokenListPage
	tokenListPage = 2
	defer func() { tokenListPage = old }()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := tokens.Create(ctx, fmt.Sprintf("t%d", i), vaspd.AllPermissions); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	code, out, errs := runCmd("token", "list", "--data-dir", dir)
	if n := strings.Count(out, `"name":"t`); code != 0 || n != 5 {
		t.Fatalf("token list: exit %d, %d tokens listed, want 5:\n%s%s", code, n, out, errs)
	}
}

// A missing or bad --name, --permissions or --id is a usage error (exit 2)
// found before the database is opened: nothing is created in the data
// directory, and a database that cannot be reached is never tried.
func TestTokenCLIChecksFlagsFirst(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	for _, where := range [][]string{
		{"--data-dir", dir},
		{"--database-url", "sqlite:" + filepath.Join(dir, "vaspd.db")},
		{"--database-url", "postgres://nobody@127.0.0.1:1/none?sslmode=disable"},
	} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "--permissions", "VIEW"}, "--name"},
			{[]string{"create", "--name", " ", "--permissions", "VIEW"}, "--name"},
			{[]string{"create", "--name", "a\x01b", "--permissions", "VIEW"}, "--name"},
			{[]string{"create", "--name", "ops"}, "--permissions"},
			{[]string{"create", "--name", "ops", "--permissions", "VIEW,ADMIN"}, `unknown permission "ADMIN"`},
			{[]string{"delete"}, "--id"},
			{[]string{"delete", "--id", "Tokn:1"}, "--id"},
			{[]string{"delete", "--id", "Token:1"}, "--id"},
			{[]string{"delete", "--id", "Token:\x1b[31m01a24b0f-3a46-7857-815f-22fc988fb871"}, "--id"},
		} {
			args := append(append([]string{"token"}, c.args...), where...)
			code, out, errs := runCmd(args...)
			if code != 2 || out != "" || !strings.Contains(errs, c.want) || !strings.Contains(errs, "Usage: vaspd token") ||
				strings.Contains(errs, "database") {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a usage error naming %s", args, code, out, errs, c.want)
			}
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused token command created the data directory")
	}
}

// `vaspd token delete --id` takes a token id as the API does, its UUID in
// either case (RFC 9562: its hex is case-insensitive), and deletes the
// token stored under its lower-case spelling; it was compared as typed,
// so an id copied in upper case was "not found" while the token stayed
// live.
func TestTokenDeleteTakesTheIDInAnyCase(t *testing.T) {
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
		tok, err := tokens.Create(ctx, "ops", []vaspd.Permission{vaspd.PermView})
		if err != nil {
			t.Fatal(err)
		}
		upper := vaspd.IDToken + ":" + strings.ToUpper(strings.TrimPrefix(tok.ClientID, vaspd.IDToken+":"))
		code, out, errs := runCmd(append([]string{"token", "delete", "--id", upper}, flags...)...)
		if code != 0 || out != "deleted "+tok.ClientID+"\n" {
			t.Fatalf("token delete --id %s: exit %d, stdout %q, stderr %q; want 0 and the token deleted", upper, code, out, errs)
		}
		live, err := tokens.List(ctx, auth.ListFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range live {
			if l.ID == tok.ClientID {
				t.Errorf("token %s is still live after token delete --id %s", tok.ClientID, upper)
			}
		}
	})
}

// `vaspd token create` prints the permissions the token was given, as
// stored (upper case, each once, in VIEW, TRANSACT, MANAGE order), not the
// --permissions text as typed: " manage, view,VIEW," reads as something
// else than the VIEW,MANAGE token it makes.
func TestTokenCreatePrintsThePermissionsGiven(t *testing.T) {
	eachCLIDatabase(t, func(t *testing.T, open func() (*store.DB, error), flags ...string) {
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		code, out, errs := runCmd(append([]string{"token", "create", "--name", "ops", "--permissions", " manage, view,VIEW,"}, flags...)...)
		if code != 0 || !strings.Contains(out, "\npermissions:  VIEW,MANAGE\n") {
			t.Errorf("token create: exit %d, stdout %q, stderr %q; want permissions:  VIEW,MANAGE", code, out, errs)
		}
	})
}
