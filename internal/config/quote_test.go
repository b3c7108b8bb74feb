package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad number, duration or boolean is quoted in its error at most 64
// bytes of it long, as a bad text value is echoed bounded: the whole value
// was quoted, and one from the file (up to 1 MiB) or a variable made the
// error, and the line vaspd prints of it, that long.
func TestBadValueQuotedBounded(t *testing.T) {
	long := "12" + strings.Repeat("x", 100_000)
	for _, key := range []string{"port", "wait", "verbose"} {
		file := filepath.Join(t.TempDir(), "vaspd.yaml")
		if err := os.WriteFile(file, []byte(key+": "+long+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for name, args := range map[string][]string{"file": {"--config", file}, "flag": {"--" + key, long}} {
			_, err := parse(t, args, nil)
			if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), `"12xxx`) {
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				t.Errorf("%s from the %s: error of %d bytes, starting %.200q; want the value's start, quoted, bounded", key, name, len(msg), msg)
			}
		}
	}
}

// An unknown key of the file, and a URL setting's value that is no
// absolute URL, are quoted bounded too.
func TestBadKeyAndURLQuotedBounded(t *testing.T) {
	long := "zz" + strings.Repeat("y", 100_000)
	file := filepath.Join(t.TempDir(), "vaspd.yaml")
	if err := os.WriteFile(file, []byte(long[:1000]+": 1\n"), 0o600); err != nil { // YAML's longest plain key
		t.Fatal(err)
	}
	_, err := parse(t, []string{"--config", file}, nil)
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), `unknown key "zzyyy`) {
		t.Errorf("an unknown key: %.300v (%d bytes); want it quoted, bounded", err, len(fmt.Sprint(err)))
	}
	_, err = ParseURL("tracing-endpoint", "/"+long, "http", "https")
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), `"/zzyyy`) {
		t.Errorf("a URL: %.300v (%d bytes); want it quoted, bounded", err, len(fmt.Sprint(err)))
	}
}
