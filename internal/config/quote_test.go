package config

import (
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
