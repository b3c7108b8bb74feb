package config

import (
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
		{"postgres://db.example/vaspd?password=s3cret&sslmode=disable", "postgres://db.example/vaspd?password=xxxxx&sslmode=disable"},
		{"postgres://db.example/vaspd?sslpassword=s3cret", "postgres://db.example/vaspd?sslpassword=xxxxx"},
		{"postgres://db.example/vaspd?PASSWORD=s3cret&password=s3cret", "postgres://db.example/vaspd?PASSWORD=xxxxx&password=xxxxx"},
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
