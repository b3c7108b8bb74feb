package main

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzPgDumpURL: the pg_dump command vaspd backup prints for a PostgreSQL
// database-url never carries the URL's password (its user:password@ or a
// password or sslpassword parameter), whatever else the URL holds.
func FuzzPgDumpURL(f *testing.F) {
	for _, s := range []string{
		"postgres://vaspd:SECRET@db.example:5432/vaspd?sslmode=require",
		"postgresql://db.example/vaspd?password=SECRET&sslpassword=SECRET&pool_max_conns=4",
		"postgres://vaspd:SECRET@db.example/vaspd#SECRET",
		"postgres://vaspd:SECRET@[::1]:5432/vaspd",
		"postgres://vaspd:SE%43RET@db.example/vaspd",
		"postgres://db.example/vaspd?Password=SECRET&password=x",
		"postgres:vaspd:SECRET@db.example",
		"postgres://h1:5432,h2:5432/vaspd?password=SECRET",
		"postgres://db.example/vaspd?search_path=vaspd&password=SECRET",
		"postgres://db.example/vaspd?password=a&search_path=SECRET",
		"postgres://db.example/vaspd?password=a&options=-c%20search_path%3DSECRET",
		"postgres://db.example/vaspd?options=-c%20search_path%3Dvaspd&password=SECRET",
	} {
		f.Add(s)
	}
	const secret = "hunter2Zq9xV7pw"
	f.Fuzz(func(t *testing.T, v string) {
		v = strings.ReplaceAll(v, "SECRET", secret)
		var b strings.Builder
		printPgDumpHint(&b, v, "x.dump") // the URL and the --schema it names
		out := b.String()
		if !strings.Contains(out, secret) {
			return
		}
		u, err := url.Parse(v)
		if err != nil {
			t.Fatalf("%q, which does not parse, printed as %q", v, out)
		}
		// A secret anywhere but the password may rightly be printed;
		// only when every one is a password is a printed one a leak.
		total, hidden := strings.Count(v, secret), 0
		if _, ok := u.User.Password(); ok {
			hidden += strings.Count(u.User.String(), secret) - strings.Count(url.User(u.User.Username()).String(), secret)
		}
		for k, vs := range u.Query() {
			if strings.Contains(strings.ToLower(k), "password") {
				for _, x := range vs {
					hidden += strings.Count(url.QueryEscape(x), secret)
				}
			}
		}
		if hidden > 0 && hidden == total {
			t.Fatalf("%q printed as %q, with its password", v, out)
		}
	})
}
