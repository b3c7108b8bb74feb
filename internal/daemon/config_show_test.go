package daemon

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/internal/config"
)

// declared parses env as vaspd serve does, without Resolve: what `vaspd
// config show` and the start-up log print must be safe whatever the value,
// even one Resolve would refuse.
func declared(t *testing.T, env map[string]string) *config.Set {
	t.Helper()
	var c Config
	set := &config.Set{}
	c.Declare(set)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := set.Parse(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	return set
}

// What is shown of a setting never holds a secret: database-url is shown
// without its password when it can be (which database the process uses is
// what an operator looks for), and not at all when it cannot (a URL that
// does not parse, a sqlite: query, a value of no kind vaspd takes).
func TestShownSettingsHoldNoSecret(t *testing.T) {
	s := plantedSecret
	for _, c := range []struct {
		name, value, want string
	}{
		{"database-url", "postgres://vaspd:" + s + "@db.example:5432/vaspd?sslmode=require", "postgres://vaspd:xxxxx@db.example:5432/vaspd?sslmode=require"},
		{"database-url", "postgresql://db.example/vaspd?password=" + s, "postgresql://db.example/vaspd?password=xxxxx"},
		{"database-url", "postgres://vaspd:" + s + "@db.example:bad/vaspd", config.Masked},
		{"database-url", "postgres://vaspd:12/" + s + "@db.example/vaspd", config.Masked},
		{"database-url", "postgres://vaspd:" + s + "%zz@db.example/vaspd", config.Masked},
		{"database-url", "postgres://db.example/vaspd?password=" + s + ";x", config.Masked},
		{"database-url", "host=db.example password=" + s, config.Masked},
		{"database-url", "mysql://vaspd:" + s + "@db.example/vaspd", config.Masked},
		{"database-url", "sqlite:/var/lib/vaspd.db?_key=" + s, config.Masked},
		{"database-url", "sqlite:/var/lib/vaspd/vaspd.db", "sqlite:/var/lib/vaspd/vaspd.db"},
		{"devnet-secret", s, config.Masked},
		{"lnd-rest-url", "https://u:" + s + "@lnd.example:8080", "https://u:xxxxx@lnd.example:8080"},
		{"lnd-rest-url", "https://u:1/" + s + "@lnd.example:8080", config.Masked},
		{"tracing-endpoint", "http://u:" + s + "@collector:4318", "http://u:xxxxx@collector:4318"},
		{"base-url", "https://u:" + s + "@pay.example", "https://u:xxxxx@pay.example"},
	} {
		set := declared(t, map[string]string{"VASPD_" + strings.ToUpper(strings.ReplaceAll(c.name, "-", "_")): c.value})
		if got := set.Lookup(c.name).Value(); got != c.want || strings.Contains(got, s) {
			t.Errorf("%s %q: shown as %q, want %q", c.name, c.value, got, c.want)
		}
	}
}

// A setting whose name says it holds a password, secret or token is
// declared Secret (a key file's setting names a path, not a key).
func TestSecretNamedSettingsAreSecret(t *testing.T) {
	for _, st := range declared(t, nil).Settings() {
		named := strings.Contains(st.Name, "secret") || strings.Contains(st.Name, "password") || strings.Contains(st.Name, "token")
		if named && !st.Secret {
			t.Errorf("%s is not declared Secret", st.Name)
		}
		if st.Secret != secretSettings[st.Name] {
			t.Errorf("%s: Secret %v, but the fuzz targets' secretSettings say %v", st.Name, st.Secret, secretSettings[st.Name])
		}
	}
}
