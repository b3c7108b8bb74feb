package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// parseSet is parse, returning the Set to read the sources from.
func parseSet(t *testing.T, args []string, env map[string]string) (*Set, testConfig) {
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
	if err := s.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("%v %v: %v", args, env, err)
	}
	return s, c
}

// Each setting's Source is the one of flag, environment, file and default
// whose value won, with the flag, variable or file that gave it; an empty
// variable and a YAML null give no value, so the next place down wins.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vaspd.yaml")
	if err := os.WriteFile(file, []byte("name: from-file\nport: 3000\nwait: ~\nverbose: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	def := Source{}
	flagOf := func(n string) Source { return Source{FromFlag, "--" + n} }
	envOf := func(n string) Source { return Source{FromEnv, n} }
	inFile := Source{FromFile, file}
	for _, c := range []struct {
		name  string
		args  []string
		env   map[string]string
		want  map[string]Source
		value map[string]string
	}{
		{"nothing given", nil, nil,
			map[string]Source{"config": def, "name": def, "port": def, "wait": def, "verbose": def},
			map[string]string{"name": "default-name", "port": "80", "wait": "1s", "verbose": "false"}},
		{"file; a null leaves the default", []string{"--config", file}, nil,
			map[string]Source{"config": flagOf("config"), "name": inFile, "port": inFile, "wait": def, "verbose": inFile},
			map[string]string{"name": "from-file", "port": "3000", "wait": "1s", "verbose": "true"}},
		{"file named by env, env over file", nil, map[string]string{"VASPD_CONFIG": file, "VASPD_PORT": "4000"},
			map[string]Source{"config": envOf("VASPD_CONFIG"), "name": inFile, "port": envOf("VASPD_PORT"), "wait": def},
			map[string]string{"name": "from-file", "port": "4000"}},
		{"flag over env over file", []string{"--port=5000", "-config", file}, map[string]string{"VASPD_PORT": "4000", "VASPD_NAME": "env"},
			map[string]Source{"config": flagOf("config"), "name": envOf("VASPD_NAME"), "port": flagOf("port"), "verbose": inFile},
			map[string]string{"name": "env", "port": "5000"}},
		{"an empty variable is unset", []string{"--config", file}, map[string]string{"VASPD_NAME": "", "VASPD_WAIT": ""},
			map[string]Source{"name": inFile, "wait": def},
			map[string]string{"name": "from-file", "wait": "1s"}},
		{"a flag equal to the default is still a flag", []string{"--port", "80"}, nil,
			map[string]Source{"port": flagOf("port"), "name": def},
			map[string]string{"port": "80"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := parseSet(t, c.args, c.env)
			for name, want := range c.want {
				if got := s.Lookup(name).Source(); got != want {
					t.Errorf("%s: source %v, want %v", name, got, want)
				}
			}
			for name, want := range c.value {
				if got := s.Lookup(name).Value(); got != want {
					t.Errorf("%s: value %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestSourceString(t *testing.T) {
	for _, c := range []struct {
		src  Source
		want string
	}{
		{Source{}, "default"},
		{Source{FromFlag, "--listen"}, "flag --listen"},
		{Source{FromEnv, "VASPD_LISTEN"}, "env VASPD_LISTEN"},
		{Source{FromFile, "/etc/vaspd.yaml"}, "file /etc/vaspd.yaml"},
	} {
		if got := c.src.String(); got != c.want {
			t.Errorf("%#v: %q, want %q", c.src, got, c.want)
		}
		if c.src.IsDefault() != (c.want == "default") {
			t.Errorf("%#v: IsDefault %v", c.src, c.src.IsDefault())
		}
	}
	// Declared but not parsed: the default.
	var v string
	if src := (&Set{}).String(&v, "x", "", "x").Source(); src != (Source{}) || !src.IsDefault() {
		t.Errorf("before Parse: %v", src)
	}
}
