package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	File    string
	Name    string
	Port    int64
	Wait    time.Duration
	Verbose bool
}

func parse(t *testing.T, args []string, env map[string]string) (testConfig, error) {
	t.Helper()
	var c testConfig
	s := &Set{}
	s.String(&c.File, "config", "", "file")
	s.String(&c.Name, "name", "default-name", "name")
	s.Int64(&c.Port, "port", 80, "port")
	s.Duration(&c.Wait, "wait", time.Second, "wait")
	s.Bool(&c.Verbose, "verbose", false, "verbose")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := s.Parse(fs, args, func(k string) string { return env[k] })
	return c, err
}

func TestPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vaspd.yaml")
	os.WriteFile(file, []byte("name: from-file\nport: 3000\nwait: 5s\nverbose: true\n"), 0o600)

	c, err := parse(t, nil, nil)
	if err != nil || c.Name != "default-name" || c.Port != 80 || c.Wait != time.Second || c.Verbose {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = parse(t, []string{"--config", file}, nil)
	if err != nil || c.Name != "from-file" || c.Port != 3000 || c.Wait != 5*time.Second || !c.Verbose {
		t.Fatalf("file: %+v %v", c, err)
	}
	c, err = parse(t, nil, map[string]string{"VASPD_CONFIG": file, "VASPD_PORT": "4000"})
	if err != nil || c.Name != "from-file" || c.Port != 4000 {
		t.Fatalf("env over file: %+v %v", c, err)
	}
	c, err = parse(t, []string{"--port=5000", "--config", file}, map[string]string{"VASPD_PORT": "4000", "VASPD_NAME": "env"})
	if err != nil || c.Port != 5000 || c.Name != "env" || c.Wait != 5*time.Second {
		t.Fatalf("flag over env over file: %+v %v", c, err)
	}
}

func TestBadInputNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: [unclosed\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("nmae: typo\n"), 0o600)
	badVal := filepath.Join(dir, "badval.yaml")
	os.WriteFile(badVal, []byte("port: eighty\n"), 0o600)
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--port", "x"}, nil, "port"},
		{nil, map[string]string{"VASPD_WAIT": "soon"}, "setting wait from VASPD_WAIT"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "setting config: cannot read"},
		{[]string{"--config", bad}, nil, "not valid YAML"},
		{[]string{"--config", unknown}, nil, `unknown key "nmae"`},
		{[]string{"--config", badVal}, nil, "setting port from"},
		{[]string{"extra"}, nil, "unexpected argument"},
	} {
		_, err := parse(t, c.args, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: err = %v, want it to mention %q", c.args, c.env, err, c.want)
		}
	}
}

// A config file larger than the reader's limit is an error, not silently
// cut short: a cut could end a value half-way and still parse.
func TestOversizedFileIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.yaml")
	pad := "# " + strings.Repeat("x", 1<<20) + "\n"
	// The file's last line is "name: from-file"; cut at 1 MiB it would be
	// dropped (or truncated) without a word.
	if err := os.WriteFile(file, []byte(pad+"name: from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, []string{"--config", file}, nil)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v (name %q), want a too-large error", err, c.Name)
	}
}

// A YAML null ("key: ~", "key: null", "key:") is no value: the setting
// keeps its default, never the text "~" or "null" (a devnet secret of
// "null" would switch the devnet on with a public secret).
func TestNullMeansUnset(t *testing.T) {
	file := filepath.Join(t.TempDir(), "null.yaml")
	if err := os.WriteFile(file, []byte("name: ~\nport: null\nwait:\nverbose: Null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, []string{"--config", file}, nil)
	if err != nil || c.Name != "default-name" || c.Port != 80 || c.Wait != time.Second || c.Verbose {
		t.Fatalf("%+v %v, want the defaults", c, err)
	}
	// A misspelt key is unknown even without a value.
	if err := os.WriteFile(file, []byte("nmae: ~\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, []string{"--config", file}, nil); err == nil || !strings.Contains(err.Error(), `unknown key "nmae"`) {
		t.Fatalf("null unknown key: %v", err)
	}
	// A quoted "null" is a string like any other.
	if err := os.WriteFile(file, []byte("name: \"null\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := parse(t, []string{"--config", file}, nil); err != nil || c.Name != "null" {
		t.Fatalf("%+v %v, want name \"null\"", c, err)
	}
}

// A URL setting's error shows the value without its password: the
// user:password@ part redacted, and a value that does not parse (whose
// parse error would repeat it) or has an '@' outside an authority not
// echoed at all.
func TestParseURLHidesPassword(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"postgres://user:s3cret@/db", `"postgres://user:xxxxx@/db" is not an absolute URL`},
		{"https://user:s3cret@", `"https://user:xxxxx@" is not an absolute URL`},
		{"/db?password=s3cret", `"/db?password=xxxxx" is not an absolute URL`},
		{"https://user:s3cret%zz@host", "not echoed"},
		{"user:s3cret@host", "not echoed"},
		{"ftp://user:s3cret@host", "scheme must be"},
	} {
		_, err := ParseURL("database-url", c.value, "https", "postgres")
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), c.want) ||
			!strings.Contains(err.Error(), "setting database-url") {
			t.Errorf("%s: err = %v, want it to say %q without the password", c.value, err, c.want)
		}
	}
	if got := RedactURL("https://user:s3cret@host/p?password=s3cret&x=1"); got != "https://user:xxxxx@host/p?password=xxxxx&xxxxx=xxxxx" {
		t.Errorf("RedactURL: %s", got)
	}
	if got := RedactURL("https://host:8080/p"); got != "https://host:8080/p" {
		t.Errorf("RedactURL changed a URL without password: %s", got)
	}
}

// A config file is one YAML mapping. A second document ("---") is refused
// rather than silently ignored (its settings, and any typo in them, would
// be lost without a word); a file that is not a mapping (e.g. --config
// pointed at a key file by mistake) is refused in one line that does not
// echo the file's contents.
func TestFileIsOneMapping(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, body, want string
	}{
		{"two-docs.yaml", "name: first\n---\nnmae: typo\n", "more than one YAML document"},
		{"two-docs-same.yaml", "---\nname: first\n---\nname: second\n", "more than one YAML document"},
		{"scalar.yaml", "0123456789abcdefs3cret\n", "want a mapping"},
		{"list.yaml", "- name: x\n", "want a mapping"},
		{"dup.yaml", "name: a\nname: b\n", "name is given twice"},
	} {
		file := filepath.Join(dir, c.name)
		if err := os.WriteFile(file, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := parse(t, []string{"--config", file}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "setting config") ||
			strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "0123456") {
			t.Errorf("%s: err = %v, want one line with %q and no file contents", c.name, err, c.want)
		}
	}
	// One document, with or without its "---" and "...", and an empty file, are fine.
	for _, body := range []string{"---\nname: one\n", "name: one\n...\n", "---\nname: one\n...\n"} {
		file := filepath.Join(dir, "ok.yaml")
		os.WriteFile(file, []byte(body), 0o600)
		if c, err := parse(t, []string{"--config", file}, nil); err != nil || c.Name != "one" {
			t.Errorf("%q: name %q, err %v", body, c.Name, err)
		}
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o600)
	if c, err := parse(t, []string{"--config", empty}, nil); err != nil || c.Name != "default-name" {
		t.Errorf("empty file: name %q, err %v", c.Name, err)
	}
}

// An empty VASPD_* variable is unset, as the tests' getenv has it, not a
// value that overrides the file: VASPD_DATABASE_URL= passed through by an
// orchestrator from an unset variable must not swap the file's PostgreSQL
// database for a new SQLite one without a word.
func TestEmptyEnvironmentVariableIsUnset(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("name: from-file\n"), 0o600)
	t.Setenv("VASPD_NAME", "")
	t.Setenv("VASPD_WAIT", "")
	var c testConfig
	s := &Set{}
	s.String(&c.File, "config", "", "file")
	s.String(&c.Name, "name", "default-name", "name")
	s.Duration(&c.Wait, "wait", time.Second, "wait")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := s.Parse(fs, []string{"--config", file}, nil); err != nil {
		t.Fatal(err)
	}
	if c.Name != "from-file" || c.Wait != time.Second {
		t.Errorf("name %q, wait %s: want the file's name and the default wait", c.Name, c.Wait)
	}
}

// A value that starts with * is a YAML alias, and yaml's error for one
// naming no anchor quotes its name: a secret written unquoted
// (database-url: *s3cret…, devnet-secret: *…) would be printed in the
// error. The error says what went wrong without the name.
func TestFileAliasErrorDoesNotQuoteTheValue(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{"name: *pa55w0rdZq9\n", "name: x\nport: *pa55w0rdZq9\n"} {
		file := filepath.Join(dir, "alias.yaml")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := parse(t, []string{"--config", file}, nil)
		if err == nil || strings.Contains(err.Error(), "pa55w0rd") || !strings.Contains(err.Error(), "setting config") ||
			!strings.Contains(err.Error(), "quote") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err = %v, want one line saying to quote the value, without it", body, err)
		}
	}
}
