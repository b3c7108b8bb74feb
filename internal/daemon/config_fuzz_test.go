package daemon

import (
	"flag"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/vaspd/vaspd/internal/config"
)

// plantedSecret stands for a password or shared secret: the fuzz targets
// put it where the marker SECRET is in their input, and check that no
// error quotes it from where it is secret.
const plantedSecret = "hunter2Zq9xV7pw"

// secretSettings hold secrets in their whole value.
var secretSettings = map[string]bool{"database-url": true, "devnet-secret": true}

// loadConfig parses args and env as vaspd serve does, then resolves the
// result with the settings naming files Resolve reads emptied (a fuzzed
// one would have it read whatever the machine holds, and a FIFO blocks;
// tests of their own check them). It returns the first error.
func loadConfig(t *testing.T, args []string, env map[string]string) error {
	t.Helper()
	var c Config
	set := &config.Set{}
	c.Declare(set)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := set.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		return err
	}
	c.SigningKeyFile, c.EncryptionKeyFile, c.PreviousEncryptionKeyFiles, c.Payments.RatesFile = "", "", "", ""
	c.Lightning.LNDTLSCert, c.Lightning.LNDMacaroon = "", ""
	return c.Resolve()
}

// wantSettingError fails unless err is one line of text (no control
// characters: a value quoted in it is escaped) naming a setting.
func wantSettingError(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "setting ") || strings.ContainsFunc(msg, unicode.IsControl) {
		t.Fatalf("error %q: want one line of text that starts by naming the setting", msg)
	}
}

// FuzzConfigFile: any contents of the --config YAML file, with the planted
// secret anywhere. Parse and Resolve never panic; an error is one line
// naming a setting; and it never quotes the secret unless the file gives it
// to a setting that is not secret (or as a key), where echoing the value
// is what tells the operator what is wrong.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"database-url: postgres://vaspd:SECRET@db.example/vaspd\nlisten: 127.0.0.1:0\n",
		"database-url: 'postgres://vaspd:SECRET@db.example:bad/vaspd'\n",
		"database-url: postgres://db.example/vaspd?password=SECRET&sslmode=nope\n",
		"database-url: sqlite:/var/lib/vaspd.db?_key=SECRET\n",
		"database-url: mysql://u:SECRET@h/d\n",
		"database-url: *SECRET\n",
		"devnet-secret: SECRET\ndevnet-peers: http://x:SECRET@peer.example\n",
		"devnet-secret: &SECRET x\nlightning: lnd\n",
		"devnet-secret: !SECRET x\n",
		"devnet-secret: [SECRET, x]\n",
		"devnet-secret: {a: SECRET}\n",
		"devnet-secret: \"SECRET\\q\"\n",
		"database-url: |\n  SECRET\n  x\n",
		"api-trusted-proxies: [10.0.0.0/8, \"2001:db8::/32\", nope]\napi-trusted-origins: https://dash.example.com,\n",
		"counterparty-allow: a.example,b.example:8080\ncounterparty-deny: http://evil.example\n",
		"webhook-timeout: 10\nshutdown-timeout: -1s\ninvoice-expiry: 1.5s\n",
		"tracing-sample-ratio: NaN\ntracing-endpoint: http://u:SECRET@collector:4318\n",
		"lightning: lnd\nlnd-rest-url: https://u:SECRET@lnd:8080\n",
		"domain: Vasp.Example:8080\nbase-url: https://vasp.example/uma?x=1\n",
		"---\na: 1\n---\nb: 2\n",
		"~\n", "", "# only a comment SECRET\n", "SECRET\n", "- a\n- b\n", "listen: [a, [b]]\n", "listen: ~\nlisten: x\n",
		"\xff\xfe", "a: b: c\n", "? [x]\n: y\n", "key: \"\x00\"\n",
	} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "vaspd.yaml")
	f.Fuzz(func(t *testing.T, file string) {
		file = strings.ReplaceAll(file, "SECRET", plantedSecret)
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		err := loadConfig(t, []string{"-config", path}, nil)
		if err == nil {
			return
		}
		wantSettingError(t, err)
		if strings.Contains(err.Error(), plantedSecret) && !echoable(file) {
			t.Fatalf("error quotes the secret: %v\nfile: %q", err, file)
		}
	})
}

// echoable reports whether a file may have its planted secret quoted: it
// is a valid mapping that gives the secret in a key or in the value of a
// setting that is not secret. Anywhere else (a secret setting's value, a
// comment, a file that is not valid YAML) it must not be.
func echoable(file string) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(file), &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		k, v := m[i], m[i+1]
		if strings.Contains(k.Value, plantedSecret) || (k.Kind != yaml.ScalarNode && nodeHas(k)) {
			return true
		}
		if !secretSettings[k.Value] && nodeHas(v) {
			return true
		}
	}
	return false
}

func nodeHas(n *yaml.Node) bool {
	if strings.Contains(n.Value, plantedSecret) || strings.Contains(n.Anchor, plantedSecret) || strings.Contains(n.Tag, plantedSecret) {
		return true
	}
	for _, c := range n.Content {
		if nodeHas(c) {
			return true
		}
	}
	return n.Alias != nil && nodeHas(n.Alias)
}

// FuzzSecretSettings: database-url, devnet-secret, and one of the URL
// settings (devnet-peers, lnd-rest-url, tracing-endpoint, base-url) with any values
// from the environment, the planted secret anywhere in them. An error
// names a setting in one line and never quotes the secret from where it
// is secret: anywhere in devnet-secret, and in a URL's password (its
// user:password@ or a password= query parameter), or, in database-url,
// its query, or all of it when it is not a URL.
func FuzzSecretSettings(f *testing.F) {
	for _, s := range [][4]string{
		{"postgres://vaspd:SECRET@db.example/vaspd", "", "", ""},
		{"postgres://vaspd:SECRET@db.example:99999/vaspd", "", "", ""},
		{"postgres://vaspd:SECRET@db example/vaspd", "", "", ""},
		{"postgresql://db.example/vaspd?password=SECRET&sslmode=bogus", "", "", ""},
		{"postgres://vaspd:SECRET@db.example/vaspd?connect_timeout=x", "", "", ""},
		{"postgres://vaspd:SECRET@[::1/vaspd", "", "", ""},
		{"postgres://%zz:SECRET@h/d", "", "", ""},
		{"sqlite:/var/lib/vaspd.db?_pragma_key=SECRET", "", "", ""},
		{"sqlite::memory:?SECRET", "", "", ""},
		{"mysql://u:SECRET@h/d", "", "", ""},
		{"", "SECRET", "http://u:SECRET@peer.example", "embedded"},
		{"", "SECRET", "02" + strings.Repeat("ab", 32) + "@http://u:SECRET@peer:1", "lnd"},
		{"", "SECRET", "http://u:SECRET@peer example", ""},
		{"", "", "https://u:SECRET@lnd.example:8080", "lnd"},
		{"", "", "http://u:SECRET@@lnd", "lnd"},
		{"", "", "http://u:SECRET@collector:4318/v1/traces", "tracing"},
		{"", "", "http://collector:4318/?password=SECRET", "tracing"},
		{"", "", "https://u:SECRET@vasp.example", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, dbURL, devnet, peers, lightning string) {
		dbURL = strings.ReplaceAll(dbURL, "SECRET", plantedSecret)
		devnet = strings.ReplaceAll(devnet, "SECRET", plantedSecret)
		peers = strings.ReplaceAll(peers, "SECRET", plantedSecret)
		env := map[string]string{"VASPD_DATABASE_URL": dbURL, "VASPD_DEVNET_SECRET": devnet}
		// peers in every URL setting that may carry a user:password.
		switch lightning {
		case "lnd":
			env["VASPD_LIGHTNING"] = "lnd"
			env["VASPD_LND_REST_URL"] = peers
		case "embedded":
			env["VASPD_DEVNET_PEERS"] = peers
		case "tracing":
			env["VASPD_TRACING_ENDPOINT"] = peers
		default:
			env["VASPD_BASE_URL"] = peers
		}
		err := loadConfig(t, nil, env)
		if err == nil {
			return
		}
		wantSettingError(t, err)
		msg := err.Error()
		if !strings.Contains(msg, plantedSecret) {
			return
		}
		if strings.Count(devnet, plantedSecret) > 0 && !strings.Contains(dbURL+peers, plantedSecret) {
			t.Fatalf("error quotes devnet-secret: %v", err)
		}
		// Only when every planted secret is in a secret place is a quote
		// of it a leak: one elsewhere may be quoted rightly.
		total := strings.Count(dbURL, plantedSecret) + strings.Count(peers, plantedSecret)
		hidden := secretsInDatabaseURL(dbURL) + secretsInURLList(peers)
		if total > 0 && hidden == total && strings.Count(devnet, plantedSecret) == 0 {
			t.Fatalf("error quotes a secret: %v\ndatabase-url %q, URL setting %q", err, dbURL, peers)
		}
	})
}

// secretsInDatabaseURL counts the planted secrets in secret places of a
// database-url: its password when it parses as a URL, all of it otherwise;
// for sqlite:PATH, its query.
func secretsInDatabaseURL(v string) int {
	if rest, ok := strings.CutPrefix(v, "sqlite:"); ok {
		_, q, _ := strings.Cut(rest, "?")
		return strings.Count(q, plantedSecret)
	}
	if !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
		return 0 // refused without a word about the value
	}
	u, err := url.Parse(v)
	if err != nil {
		return strings.Count(v, plantedSecret)
	}
	return secretsInURL(u)
}

// secretsInURLList counts the planted secrets in the passwords of the
// comma-separated URLs (each perhaps PUBKEY@URL) of v, or in a value that
// does not parse as a URL and has an '@'.
func secretsInURLList(v string) int {
	n := 0
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		u, err := url.Parse(e)
		if err != nil {
			if strings.Contains(e, "@") {
				n += strings.Count(e, plantedSecret)
			}
			continue
		}
		n += secretsInURL(u)
	}
	return n
}

// secretsInURL counts the planted secrets in u's password and password=
// query parameter, or in all of an opaque URL with an '@' ("user:pw@host"
// without a scheme reads as scheme "user").
func secretsInURL(u *url.URL) int {
	if strings.Contains(u.Opaque, "@") {
		return strings.Count(u.Opaque, plantedSecret)
	}
	n := strings.Count(u.Query().Get("password"), plantedSecret)
	if p, ok := u.User.Password(); ok {
		n += strings.Count(p, plantedSecret)
	}
	return n
}

// FuzzSettingValue: any value, from the environment, for any setting but
// those naming files: Parse and Resolve never panic, and an error is one
// line naming a setting (which one may be another whose check depends on
// this one).
func FuzzSettingValue(f *testing.F) {
	var c Config
	set := &config.Set{}
	c.Declare(set)
	var names []string
	for _, s := range set.Settings() {
		switch s.Name {
		case "config", "uma-signing-key-file", "uma-encryption-key-file", "uma-previous-encryption-key-files", "lnd-tls-cert", "lnd-macaroon", "rates-file":
		default:
			names = append(names, s.Name)
		}
	}
	for i, s := range names {
		f.Add(uint8(i), set.Lookup(s).Default)
	}
	for _, v := range []string{"", " ", "-1", "1e3", "0x10", "9223372036854775808", "-9223372036854775808", "1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h",
		"2562047h47m16.854775807s", "NaN", "-0", "true", "10.0.0.0/8,", ",", "::/0", "0.0.0.0/0,fe80::1%eth0",
		"https://dash.example.com/", "http://[::1]:8080", "\x00", "a.example,,b.example", "localhost:0", "[::]:8080"} {
		for i := 0; i < len(names); i += 7 {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, v string) {
		name := names[int(i)%len(names)]
		err := loadConfig(t, nil, map[string]string{set.Lookup(name).Env(): v})
		if err != nil {
			wantSettingError(t, err)
		}
	})
}
