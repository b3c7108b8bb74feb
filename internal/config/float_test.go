package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A fractional setting (a sample ratio) is read from its flag, environment
// variable and file like the others; what is not a finite number is
// refused naming the setting, "NaN" and "Inf" included (strconv takes
// them, and no range check catches NaN).
func TestFloat64Setting(t *testing.T) {
	load := func(args []string, env map[string]string) (float64, error) {
		t.Helper()
		var f float64
		var file string
		s := &Set{}
		s.String(&file, "config", "", "file")
		s.Float64(&f, "ratio", 0.25, "ratio")
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		err := s.Parse(fs, args, func(k string) string { return env[k] })
		return f, err
	}
	if f, err := load(nil, nil); err != nil || f != 0.25 {
		t.Fatalf("default: %v %v", f, err)
	}
	if f, err := load(nil, map[string]string{"VASPD_RATIO": " 0.5 "}); err != nil || f != 0.5 {
		t.Fatalf("environment: %v %v", f, err)
	}
	if f, err := load([]string{"--ratio=1"}, map[string]string{"VASPD_RATIO": "0.5"}); err != nil || f != 1 {
		t.Fatalf("flag: %v %v", f, err)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("ratio: 0.125\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := load([]string{"--config", file}, nil); err != nil || f != 0.125 {
		t.Fatalf("file: %v %v", f, err)
	}
	for _, bad := range []string{"half", "NaN", "Inf", "-Inf", "1e400", ""} {
		if bad == "" {
			continue // an empty variable is unset
		}
		_, err := load(nil, map[string]string{"VASPD_RATIO": bad})
		if err == nil || !strings.Contains(err.Error(), "setting ratio from VASPD_RATIO") {
			t.Errorf("%q: err = %v, want it refused naming the setting", bad, err)
		}
	}
}
