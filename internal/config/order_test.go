package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file with several values of the wrong shape is refused naming the
// first in the file, every time: the keys were checked in map order, so
// which one the error named changed from run to run.
func TestFileStructureErrorIsTheFirst(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vaspd.yaml")
	var b strings.Builder
	b.WriteString("name: ok\nport:\n  nested: 1\n")
	for _, k := range []string{"wait", "verbose", "a", "b", "c", "d", "e", "f", "g", "h"} {
		b.WriteString(k + ":\n  nested: 1\n")
	}
	b.WriteString("file:\n  - [1]\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		_, err := parse(t, []string{"--config", file}, nil)
		if err == nil || !strings.Contains(err.Error(), ": port: want a plain value or a list") {
			t.Fatalf("got %v; want the error of port, the first key of the wrong shape", err)
		}
	}
}
