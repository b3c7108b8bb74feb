package config

import (
	"os"
	"path/filepath"
	"testing"
)

// White space around a value is no part of it, wherever it comes from: a
// variable filled from a file or a secret store often ends in a line end
// (VASPD_DATABASE_URL=sqlite:/var/lib/vaspd.db plus "\n" would name
// another file, created empty, and a devnet-secret another secret), and
// the number, duration and boolean settings already read theirs so. A
// variable of only white space is unset, as an empty one is, and does not
// hide the file's value.
func TestValuesAreTrimmedOfSurroundingSpace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vaspd.yaml")
	if err := os.WriteFile(file, []byte("name: \" from-file\\t\"\nport: 3000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, nil, map[string]string{"VASPD_NAME": "from-env\n"})
	if err != nil || c.Name != "from-env" {
		t.Errorf("env: %q, %v", c.Name, err)
	}
	c, err = parse(t, []string{"--name", " from-flag\r\n"}, nil)
	if err != nil || c.Name != "from-flag" {
		t.Errorf("flag: %q, %v", c.Name, err)
	}
	c, err = parse(t, nil, map[string]string{"VASPD_CONFIG": " " + file + "\n"})
	if err != nil || c.Name != "from-file" || c.Port != 3000 {
		t.Errorf("file: %+v, %v", c, err)
	}
	c, err = parse(t, []string{"--config", file}, map[string]string{"VASPD_NAME": " \n", "VASPD_PORT": "\t"})
	if err != nil || c.Name != "from-file" || c.Port != 3000 {
		t.Errorf("blank variables over the file: %+v, %v", c, err)
	}
}
