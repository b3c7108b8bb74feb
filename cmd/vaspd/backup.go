package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/store/sqlite"
)

// runBackup is `vaspd backup --to PATH`: a consistent copy of the local
// SQLite database, taken while a server may run on it (sqlite.Backup reads
// one snapshot and takes no lock of the server's). It opens the database
// as the other local-database commands do (openLocalDB: never migrating,
// only at exactly this binary's migrations), so a copy is always of a
// schema this binary knows. PostgreSQL has its own tools, which this
// command points at rather than imitates.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage: vaspd backup --to PATH [--force] [flags]"
	var to string
	var force bool
	check := func(cfg daemon.Config) error {
		if !cfg.OnSQLite() {
			printPgDumpHint(stderr, cfg.DatabaseURL, to)
			return errUsage
		}
		if to == "" {
			fmt.Fprintf(stderr, "vaspd backup: --to PATH is required (the file to write)\n%s\n", usage)
			return errUsage
		}
		return nil
	}
	_, db, err := openLocalDB(ctx, "backup", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the file to write the backup to, in a directory that exists (required)")
		fs.BoolVar(&force, "force", false, "replace the file at --to if there is one")
	}, check)
	if err != nil {
		return err
	}
	defer db.Close()
	info, err := sqlite.Backup(ctx, db, to, force)
	if errors.Is(err, sqlite.ErrBackupExists) {
		return fmt.Errorf("%w: pass --force to replace it", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes, migration %04d\n", info.Path, info.Size, info.Migration)
	return nil
}

// printPgDumpHint says how to back up a PostgreSQL database instead, with
// a pg_dump command to start from. The URL in it has no password: the
// setting's user:password and libpq's password parameter are dropped (the
// password belongs in PGPASSWORD or ~/.pgpass, not in a shell's history),
// and so is every parameter written after a password (paramsBeforePassword)
// and every parameter libpq does not take (pgx's pool_* and the like,
// which pg_dump would refuse). libpq takes no search_path either (nor is
// the options parameter kept: a free-form string), and the schemas it
// names (searchPath), where vaspd's tables are (the migrations create them
// in current_schema()), are named with --schema instead: without them
// pg_dump dumps every schema of the database, another deployment's too.
func printPgDumpHint(w io.Writer, databaseURL, to string) {
	if to == "" {
		to = "vaspd.dump"
	}
	fmt.Fprintln(w, "vaspd backup copies SQLite databases; this deployment is on PostgreSQL: back it up with pg_dump")
	fmt.Fprintln(w, "(or your provider's backups), for example:")
	fmt.Fprintf(w, "  pg_dump --format=custom --file=%s ", shellQuote(to))
	for _, s := range searchPath(databaseURL) {
		fmt.Fprintf(w, "%s ", shellQuote("--schema="+s))
	}
	fmt.Fprintln(w, shellQuote(pgDumpURL(databaseURL)))
	fmt.Fprintln(w, "pg_dump reads the password from PGPASSWORD or ~/.pgpass; restore with pg_restore.")
}

// libpqParams are the connection parameters kept in pg_dump's URL: those
// libpq takes that hold no secret.
var libpqParams = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "service": true,
	"sslmode": true, "sslrootcert": true, "sslcert": true, "sslkey": true, "sslcrl": true,
	"connect_timeout": true, "target_session_attrs": true,
}

// pgDumpURL is databaseURL without its password and the parameters libpq
// would not take, or a placeholder if it cannot be taken apart (or its
// password told from the rest).
func pgDumpURL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	// An '@' that does not end the user info is a password's end all the
	// same: one holding an unescaped '/', '?' or '#' ends the authority
	// early, and the rest of it reads as the path, query or fragment.
	if err != nil || u.Host == "" || (u.User == nil && strings.Contains(databaseURL, "@")) {
		return "postgres://USER@HOST:5432/DATABASE"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := url.Values{}
	for k, vs := range paramsBeforePassword(u.RawQuery) {
		if libpqParams[k] {
			q[k] = vs
		}
	}
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String()
}

// searchPath is the schemas the search path of databaseURL names, as
// pg_dump's --schema takes them: a quoted name with its quotes (a pattern
// in double quotes is matched exactly), "$user" left out. The search path
// is the search_path parameter's, else the one the options parameter sets
// (optionsSearchPath): the server applies the options first, then the
// other parameters.
func searchPath(databaseURL string) []string {
	u, err := url.Parse(databaseURL)
	// As pgDumpURL: a URL whose password cannot be told from the rest
	// (an '@' that ends no user info) shows none of its query.
	if err != nil || u.Host == "" || (u.User == nil && strings.Contains(databaseURL, "@")) {
		return nil
	}
	var out []string
	var b strings.Builder
	quoted := false
	add := func() {
		if s := strings.TrimSpace(b.String()); s != "" && s != "$user" && s != `"$user"` {
			out = append(out, s)
		}
		b.Reset()
	}
	params := paramsBeforePassword(u.RawQuery)
	sp, ok := params["search_path"]
	if !ok {
		sp = []string{optionsSearchPath(params.Get("options"))}
	}
	for _, r := range sp[0] {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			add()
			continue
		}
		b.WriteRune(r)
	}
	add()
	return out
}

// optionsSearchPath is the search_path options, the command-line options
// libpq and pgx send the server (options=-c search_path=vaspd), set: the
// last one's value, "" for none. They are split as the server splits them
// (pg_split_opts: white space, a backslash taking the next character as
// it is), a setting being "-c name=value", "-cname=value" or
// "--name=value", its name in any case and with '-' for '_'.
func optionsSearchPath(options string) string {
	var args []string
	var b strings.Builder
	escaped, in := false, false
	for _, r := range options {
		switch {
		case escaped:
			b.WriteRune(r)
			escaped, in = false, true
		case r == '\\':
			escaped, in = true, true
		case strings.ContainsRune(" \t\n\r\v\f", r): // C's isspace
			if in {
				args = append(args, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteRune(r)
			in = true
		}
	}
	if in {
		args = append(args, b.String())
	}
	sp := ""
	for i := 0; i < len(args); i++ {
		var setting string
		switch a := args[i]; {
		case a == "-c" && i+1 < len(args):
			i++
			setting = args[i]
		case strings.HasPrefix(a, "--"):
			setting = a[2:]
		case strings.HasPrefix(a, "-c"):
			setting = a[2:]
		default:
			continue
		}
		name, value, ok := strings.Cut(setting, "=")
		if ok && strings.ReplaceAll(strings.ToLower(name), "-", "_") == "search_path" {
			sp = value
		}
	}
	return sp
}

// paramsBeforePassword are the parameters of rawQuery written before any
// whose name holds "password" (password, sslpassword): a password with an
// unescaped '&' reads as several pairs, the rest of it as the next ones
// ("password=a&sslmode=b" may be the password "a&sslmode=b"), so nothing
// after one is shown, as config.RedactURL shows nothing after one. A pair
// that does not unescape ends them too.
func paramsBeforePassword(rawQuery string) url.Values {
	out := url.Values{}
	if rawQuery == "" {
		return out
	}
	for _, pair := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		k, kerr := url.QueryUnescape(k)
		v, verr := url.QueryUnescape(v)
		if kerr != nil || verr != nil || strings.Contains(strings.ToLower(k), "password") {
			break
		}
		out.Add(k, v)
	}
	return out
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
