package config

import (
	"net/url"
	"strings"
	"testing"
)

// RedactURL leaves what tells an operator which server is meant (scheme,
// user, host, port, path, harmless parameters) and hides the password, or
// shows nothing when it cannot tell where the password ends.
func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://vaspd:s3cret@db.example:5432/vaspd?sslmode=require", "postgres://vaspd:xxxxx@db.example:5432/vaspd?sslmode=require"},
		{"postgres://vaspd@db.example/vaspd", "postgres://vaspd@db.example/vaspd"},
		{"postgres://db.example/vaspd?password=s3cret&sslmode=disable", "postgres://db.example/vaspd?password=xxxxx&xxxxx=xxxxx"},
		{"postgres://db.example/vaspd?sslmode=disable&password=s3cret", "postgres://db.example/vaspd?password=xxxxx&sslmode=disable"},
		{"postgres://db.example/vaspd?sslpassword=s3cret", "postgres://db.example/vaspd?sslpassword=xxxxx"},
		{"postgres://db.example/vaspd?PASSWORD=s3cret&password=s3cret", "postgres://db.example/vaspd?PASSWORD=xxxxx&password=xxxxx"},
		// Only parameters known to be harmless are shown: a password
		// with an unescaped '&' splits into two pairs, the second one
		// named by the password's own text. Nor any parameter after a
		// password, harmless or not: its '&' may have cut it before a
		// harmless name, whose value is then more of the password.
		{"postgres://db.example/vaspd?password=s3&cret=1&search_path=s&application_name=a", "postgres://db.example/vaspd?password=xxxxx&xxxxx=xxxxx&xxxxx=xxxxx&xxxxx=xxxxx"},
		{"postgres://db.example/vaspd?sslmode=disable&password=s3&sslmode=cret", "postgres://db.example/vaspd?password=xxxxx&sslmode=disable&xxxxx=xxxxx"},
		{"postgres://db.example/vaspd?sslpassword=s3&host=cret&application_name=a", "postgres://db.example/vaspd?sslpassword=xxxxx&xxxxx=xxxxx&xxxxx=xxxxx"},
		{"postgres://db.example/vaspd?SSLMode=disable&s3cret=1&Password=s3cret", "postgres://db.example/vaspd?Password=xxxxx&SSLMode=disable&xxxxx=xxxxx"},
		{"postgres://db.example/vaspd?options=-c%20s3cret", "postgres://db.example/vaspd?xxxxx=xxxxx"},
		// A fragment is never shown: a password with a '#' ends the
		// query there.
		{"postgres://db.example/vaspd?password=a#s3cret", "postgres://db.example/vaspd?password=xxxxx#xxxxx"},
		{"postgres://db.example/vaspd#s3cret", "postgres://db.example/vaspd#xxxxx"},
		{"sqlite:/var/lib/vaspd/vaspd.db", "sqlite:/var/lib/vaspd/vaspd.db"},
		{"https://lnd:8080", "https://lnd:8080"},
		// A password with an unescaped '/', '?' or '#' ends the
		// authority early: the rest of it would be shown as the path,
		// query or fragment.
		{"postgres://vaspd:123/s3cret@db.example/vaspd", ""},
		{"postgres://vaspd:123?s3cret@db.example/vaspd", ""},
		{"postgres://vaspd:123#s3cret@db.example/vaspd", ""},
		{"postgres://vaspd:p@s3cret@db.example/vaspd", ""},
		// A query pair url.Query drops (a ';') would be left as it is.
		{"postgres://db.example/vaspd?password=s3cret;x", ""},
		{"postgres://db.example/vaspd?sslmode=disable&password=s3cret;x", ""},
		// Does not parse, or has no authority to redact.
		{"postgres://vaspd:s3cret%zz@db.example/vaspd", ""},
		{"vaspd:s3cret@db.example", ""},
		{"postgres://vaspd:s3cret@db.example:port/vaspd", ""},
		{"postgres://vaspd:s3cret@[::1/vaspd", ""},
		{"host=db.example password=s3cret", ""},
		{"\x00s3cret", ""},
	} {
		got := RedactURL(c.in)
		if got != c.want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Value never shows a secret: a Secret setting's is masked whole, unless
// its Redact shows part of it; one Redact cannot show is masked whole,
// never shown raw.
func TestValueMasksSecrets(t *testing.T) {
	for _, c := range []struct {
		secret bool
		redact func(string) string
		in     string
		want   string
	}{
		{true, nil, "s3cret", Masked},
		{true, nil, "", ""},
		{false, nil, "plain", "plain"},
		{true, RedactURL, "postgres://vaspd:s3cret@db/vaspd", "postgres://vaspd:xxxxx@db/vaspd"},
		{true, RedactURL, "postgres://vaspd:s3cret@db:bad/vaspd", Masked},
		{true, RedactURL, "postgres://vaspd:1/s3cret@db/vaspd", Masked},
		{true, RedactURL, "mysql://vaspd:s3cret@db/vaspd", "mysql://vaspd:xxxxx@db/vaspd"},
		{true, RedactURL, "sqlite:/var/lib/vaspd.db", "sqlite:/var/lib/vaspd.db"},
		{true, RedactURL, "", ""},
		{false, RedactURL, "https://u:s3cret@lnd:8080", "https://u:xxxxx@lnd:8080"},
		{false, RedactURL, "https://u:s3cret@lnd:x", Masked},
	} {
		var v string
		s := (&Set{}).String(&v, "x", "", "x")
		s.Secret, s.Redact = c.secret, c.redact
		v = c.in
		if got := s.Value(); got != c.want || strings.Contains(got, "s3cret") {
			t.Errorf("secret %v, redact %v, %q: Value %q, want %q", c.secret, c.redact != nil, c.in, got, c.want)
		}
	}
}

// FuzzRedactURL: a secret put in a URL's password, with anything around
// it, is never shown: not when the URL parses as meant (it is redacted),
// and not when a character in it ends the authority early (the rest of
// the password would be taken for the path, query or fragment, and
// RedactURL shows nothing). A secret in a query's password parameter, as
// url.ParseQuery (and so pgx) reads it, is never shown either.
func FuzzRedactURL(f *testing.F) {
	const planted = "hunter2Zq9xV7pw"
	for _, s := range [][4]string{
		{"vaspd", "", "", "db.example:5432/vaspd"},
		{"vaspd", "1/", "", "db.example/vaspd"},
		{"vaspd", "?", "#", "db.example/vaspd?sslmode=disable"},
		{"va@spd", "", "", "db.example"},
		{"vaspd", "", "@x", "db.example/v@x"},
		{"", "%zz", "", "[::1]:5432/vaspd"},
		{"u:v", "&", ";", "h/d?password=x&sslpassword=y"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, user, a, b, rest string) {
		v := "postgres://" + user + ":" + a + planted + b + "@" + rest
		if strings.Count(v, planted) == 1 {
			if got := RedactURL(v); strings.Contains(got, planted) {
				t.Fatalf("RedactURL(%q) = %q shows the password", v, got)
			}
		}
		q := "postgres://" + user + "@h/d?" + rest + "&password=" + a + planted + b
		if strings.Count(q, planted) != 1 {
			return
		}
		u, err := url.Parse(q)
		if err != nil {
			return
		}
		// Never shown: not as the password, not as another parameter's
		// value or name (a fuzzed "&sslmode=" in the password before
		// it), not as a fragment.
		if _, err := url.ParseQuery(u.RawQuery); err != nil {
			return
		}
		if got := RedactURL(q); strings.Contains(got, planted) {
			t.Fatalf("RedactURL(%q) = %q shows the password parameter", q, got)
		}
	})
}
