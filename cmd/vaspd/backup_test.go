package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/sqlite"
)

// TestBackupCLIBesideServer: `vaspd backup` runs beside a running `vaspd
// serve` (it does not take the server's lock) while another connection
// keeps committing, and its copy is whole, private and holds every row
// committed before it started. It prints one line: path, size, migration.
func TestBackupCLIBesideServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, stopServe := serveInProcess(t, dir)
	writer, err := sqlite.Connect(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	var committed atomic.Int64
	stop, done, warm := make(chan struct{}), make(chan error, 1), make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := writer.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, 'v', 0)`,
				fmt.Sprintf("w-%06d", i)); err != nil {
				done <- err
				return
			}
			if committed.Add(1) == 100 {
				close(warm)
			}
		}
	}()
	<-warm
	before := committed.Load()

	out := filepath.Join(t.TempDir(), "vaspd-backup.db")
	code, stdout, errs := runCmd("backup", "--data-dir", dir, "--to", out)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if code != 0 {
		t.Fatalf("backup beside the server: exit %d, stderr %q", code, errs)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s: %d bytes, migration %04d\n", out, fi.Size(), latestMigration(t))
	if stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("backup mode %#o, want 0600", m)
	}
	c := openCopy(t, out)
	var res string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q (%v)", res, err)
	}
	var missing int64
	for i := int64(0); i < before; i++ {
		var n int
		if err := c.QueryRow(`SELECT COUNT(*) FROM settings WHERE name = ?`, fmt.Sprintf("w-%06d", i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing++
		}
	}
	if missing != 0 {
		t.Errorf("the backup lacks %d of the %d rows committed before it started", missing, before)
	}
	if code := stopServe(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestBackupCLIRestore: a backup put in place as a data directory's
// vaspd.db is accepted by the local-database commands and by serve, with
// the balances of the database it was taken from.
func TestBackupCLIRestore(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(src, "vaspd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(db, nil)
	for i, paid := range []int64{15_000, 10_000, 12_345} {
		r := ledger.Receive{ID: fmt.Sprintf("receive/%d", i), UserID: vaspd.NewID(vaspd.IDUser), Msats: 10_000, PaidMsats: paid,
			FeeMsats: 100, Currency: "EUR", Amount: 9}
		if _, err := l.Post(ctx, r.Movement()); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	code, srcAccounts, errs := runCmd("ledger", "accounts", "--data-dir", src)
	if code != 0 {
		t.Fatalf("ledger accounts on the source: exit %d, stderr %q", code, errs)
	}
	restored := t.TempDir()
	if code, _, errs := runCmd("backup", "--data-dir", src, "--to", filepath.Join(restored, "vaspd.db")); code != 0 {
		t.Fatalf("backup: exit %d, stderr %q", code, errs)
	}
	code, got, errs := runCmd("ledger", "accounts", "--data-dir", restored)
	if code != 0 {
		t.Fatalf("ledger accounts on the restored copy: exit %d, stderr %q", code, errs)
	}
	if got != srcAccounts || !strings.Contains(got, `"amount": 7345`) {
		t.Errorf("restored balances:\n%s\nsource's:\n%s", got, srcAccounts)
	}
	_, stop := serveInProcess(t, restored)
	if code := stop(); code != 0 {
		t.Fatalf("serve on the restored copy exited %d", code)
	}
}

// TestBackupCLIRefusals: what `vaspd backup` refuses, with which exit
// code, and that a refusal leaves the files as they were.
func TestBackupCLIRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	if code, out, _ := runCmd("backup", "-h"); code != 0 || !strings.Contains(out, "-to") || !strings.Contains(out, "-force") ||
		!strings.Contains(out, "-data-dir") {
		t.Errorf("backup -h: exit %d, stdout %q; want exit 0 and the flags", code, out)
	}
	if code, _, errs := runCmd("backup", "--data-dir", dir); code != 2 || !strings.Contains(errs, "--to") {
		t.Errorf("backup without --to: exit %d, stderr %q; want exit 2 naming --to", code, errs)
	}

	out := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, errs := runCmd("backup", "--data-dir", dir, "--to", out)
	if code != 1 || stdout != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, out) || !strings.Contains(errs, "--force") {
		t.Errorf("backup over an existing file: exit %d, stdout %q, stderr %q; want exit 1 and one line naming it and --force", code, stdout, errs)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if code, _, errs := runCmd("backup", "--data-dir", dir, "--to", out, "--force"); code != 0 {
		t.Errorf("backup --force: exit %d, stderr %q", code, errs)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "SQLite format 3\x00") {
		t.Errorf("after --force the file is not an SQLite database: %q…", b[:min(len(b), 16)])
	}

	live := filepath.Join(dir, "vaspd.db")
	if code, _, errs := runCmd("backup", "--data-dir", dir, "--to", live, "--force"); code != 1 || !strings.Contains(errs, "live database") {
		t.Errorf("backup onto the live database: exit %d, stderr %q; want exit 1", code, errs)
	}
	if code, _, errs := runCmd("ledger", "accounts", "--data-dir", dir); code != 0 {
		t.Errorf("the live database after the refusal: exit %d, stderr %q", code, errs)
	}

	// No database: refused as the other local-database commands refuse
	// it (never created, never migrated), and nothing written.
	empty, to := t.TempDir(), filepath.Join(t.TempDir(), "x.db")
	if code, _, errs := runCmd("backup", "--data-dir", empty, "--to", to); code != 1 || !strings.Contains(errs, "no database at") {
		t.Errorf("backup of a missing database: exit %d, stderr %q; want exit 1, no database", code, errs)
	}
	if _, err := os.Stat(to); err == nil {
		t.Errorf("backup of a missing database wrote %s", to)
	}
	if _, err := os.Stat(filepath.Join(empty, "vaspd.db")); err == nil {
		t.Errorf("backup created a database in %s", empty)
	}
}

// TestBackupCLIPostgresSaysPgDump: on PostgreSQL, vaspd backup is a usage
// error pointing at pg_dump, with a command to run that holds the URL
// without its password (nor any setting pg_dump would not take), before
// any connection is tried.
func TestBackupCLIPostgresSaysPgDump(t *testing.T) {
	u := "postgres://vaspd:s3cret@db.example.com:5432/vaspd?sslmode=require&password=qs3cret&statement_cache_capacity=64"
	for _, args := range [][]string{
		{"backup", "--database-url", u, "--to", "/backups/vaspd.dump"},
		{"backup", "--database-url", u},
	} {
		code, stdout, errs := runCmd(args...)
		if code != 2 || stdout != "" || !strings.Contains(errs, "pg_dump") ||
			!strings.Contains(errs, "'postgres://vaspd@db.example.com:5432/vaspd?sslmode=require'") || strings.Contains(errs, "s3cret") ||
			strings.Contains(errs, "statement_cache_capacity") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a pg_dump command without the password", args, code, stdout, errs)
		}
	}
	t.Setenv("VASPD_DATABASE_URL", u)
	code, _, errs := runCmd("backup", "--to", "x.dump")
	if code != 2 || !strings.Contains(errs, "--file=x.dump") || strings.Contains(errs, "s3cret") {
		t.Errorf("from VASPD_DATABASE_URL: exit %d, stderr %q", code, errs)
	}
}

func latestMigration(t *testing.T) int {
	t.Helper()
	ms, err := store.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].Version
}

// openCopy opens a backup read-only.
func openCopy(t *testing.T, path string) *sql.DB {
	t.Helper()
	c, err := sqlite.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A password holding an unescaped '/' ends the URL's authority early: a
// password of digits before it reads as a port, the rest of it, up to the
// '@', as the path, and url.Parse sees no password at all. The pg_dump
// command then printed it whole; it has a placeholder instead, as
// config.RedactURL hides such a URL.
func TestPgDumpURLPasswordCutBySlash(t *testing.T) {
	for _, v := range []string{
		"postgres://vaspd:8080/Zq9xV7@db.example.com:5432/vaspd",
		"postgresql://vaspd:5432/Zq9xV7@db.example.com/vaspd?sslmode=require",
	} {
		if out := pgDumpURL(v); strings.Contains(out, "Zq9xV7") {
			t.Errorf("%q: pg_dump URL %q holds the password", v, out)
		}
	}
}

// A deployment whose database URL sets search_path keeps its tables in
// that schema (the migrations create them in current_schema()). libpq
// takes no search_path parameter, so the URL in the pg_dump command drops
// it, and the command dumped every schema of the database, another
// deployment's included, not naming the one vaspd runs in: it names each
// schema of the search path with --schema (quoted as the shell needs;
// "$user" is no schema of vaspd's).
func TestPgDumpHintKeepsTheSchema(t *testing.T) {
	for _, c := range []struct{ searchPath, want string }{
		{"vaspd_prod", " --schema=vaspd_prod "},
		{"%22%24user%22,%20Vaspd", " --schema=Vaspd "},
		{"a,b", " --schema=a --schema=b "},
		{"%22My%20Schema%22", ` '--schema="My Schema"' `},
	} {
		u := "postgres://vaspd:s3cret@db.example.com:5432/vaspd?sslmode=require&search_path=" + c.searchPath
		code, _, errs := runCmd("backup", "--database-url", u, "--to", "x.dump")
		if code != 2 || !strings.Contains(errs, c.want) || strings.Contains(errs, "s3cret") || strings.Contains(errs, "$user") {
			t.Errorf("search_path=%s: exit %d, stderr %q; want a pg_dump command with %q", c.searchPath, code, errs, c.want)
		}
	}
	for _, u := range []string{"postgres://vaspd@db.example.com/vaspd",
		"postgres://vaspd:5432?search_path=Zq9xV7@db.example.com/vaspd",   // a password cut by '?'
		"postgres://db.example.com/vaspd?password=a&search_path=Zq9xV7"} { // a password holding '&'
		code, _, errs := runCmd("backup", "--database-url", u, "--to", "x.dump")
		if code != 2 || strings.Contains(errs, "--schema") || strings.Contains(errs, "Zq9xV7") {
			t.Errorf("%s: exit %d, stderr %q; want no --schema", u, code, errs)
		}
	}
}

// A search_path may also be given the way libpq and pgx take it, as a
// server option in the options parameter (options=-c search_path=vaspd):
// vaspd runs in that schema (pgx sends options to the server, which sets
// it), but the pg_dump command named no --schema, so dumped every schema of
// the database. It reads options as the server splits them (white space,
// a backslash escaping the next character; -c name=value, -cname=value,
// --name=value, '-' in a name as '_'; the last one set wins) and a
// search_path parameter, which the server applies after them, before it.
func TestPgDumpHintKeepsTheSchemaOfOptions(t *testing.T) {
	for _, c := range []struct{ query, want, not string }{
		{"options=-c%20search_path%3Dvaspd_prod", " --schema=vaspd_prod ", ""},
		{"options=-csearch_path%3Dvaspd_prod", " --schema=vaspd_prod ", ""},
		{"options=--search_path%3Dvaspd_prod", " --schema=vaspd_prod ", ""},
		{"options=--search-path%3Dvaspd_prod", " --schema=vaspd_prod ", ""},
		{"options=-c%20Search_Path%3Dvaspd_prod", " --schema=vaspd_prod ", ""},
		{"options=-c%20statement_timeout%3D5s%20%20-c%20search_path%3Da%2Cb", " --schema=a --schema=b ", ""},
		{"options=-c%20search_path%3D%22My%5C%20Schema%22", ` '--schema="My Schema"' `, ""},
		{"options=-c%20search_path%3Dold%20-c%20search_path%3Dnew", " --schema=new ", "--schema=old"},
		{"search_path=param&options=-c%20search_path%3Dopt", " --schema=param ", "--schema=opt"},
		{"options=-c%20search_path%3Dopt&search_path=param", " --schema=param ", "--schema=opt"},
		{"options=-c%20search_path%3D%22%24user%22%2Cpublic", " --schema=public ", "$user"},
	} {
		u := "postgres://vaspd:s3cret@db.example.com:5432/vaspd?sslmode=require&" + c.query
		code, _, errs := runCmd("backup", "--database-url", u, "--to", "x.dump")
		if code != 2 || !strings.Contains(errs, c.want) || (c.not != "" && strings.Contains(errs, c.not)) ||
			strings.Contains(errs, "s3cret") || strings.Contains(errs, "options") {
			t.Errorf("%s: exit %d, stderr %q; want a pg_dump command with %q", c.query, code, errs, c.want)
		}
	}
	for _, q := range []string{
		"options=-c%20statement_timeout%3D5s",
		"options=-c",
		"options=search_path%3Dx",                      // no switch: not a setting
		"password=a&options=-c%20search_path%3DZq9xV7", // a password holding '&'
	} {
		code, _, errs := runCmd("backup", "--database-url", "postgres://db.example.com/vaspd?"+q, "--to", "x.dump")
		if code != 2 || strings.Contains(errs, "--schema") || strings.Contains(errs, "Zq9xV7") {
			t.Errorf("%s: exit %d, stderr %q; want no --schema", q, code, errs)
		}
	}
}

// A password parameter holding an unescaped '&' reads as several pairs,
// the rest of the password as the next one's ("password=Zq9&sslmode=xV7"
// is the password "Zq9&sslmode=xV7" to whoever wrote it): the pg_dump
// command kept a libpq parameter written after a password, and so printed
// the end of the password. It keeps only those written before any, as
// config.RedactURL shows nothing after one.
func TestPgDumpURLNothingAfterAPassword(t *testing.T) {
	for v, want := range map[string]string{
		"postgres://db.example.com/vaspd?password=Zq9&sslmode=xV7":              "postgres://db.example.com/vaspd",
		"postgres://db.example.com/vaspd?sslmode=require&password=Zq9&host=xV7": "postgres://db.example.com/vaspd?sslmode=require",
		"postgres://db.example.com/vaspd?sslpassword=Zq9&connect_timeout=xV7":   "postgres://db.example.com/vaspd",
		"postgres://db.example.com/vaspd?connect_timeout=5&sslmode=require&x=1": "postgres://db.example.com/vaspd?connect_timeout=5&sslmode=require",
	} {
		if got := pgDumpURL(v); got != want {
			t.Errorf("%s: pg_dump URL %q, want %q", v, got, want)
		}
	}
}
