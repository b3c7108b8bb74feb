package config

import (
	"strings"
	"testing"
)

// A directory given as the config file is refused in one clear line, its
// path named once: "cannot read D: is a directory", not the read error's
// own repetition of the path ("cannot read D: read D: is a directory").
func TestConfigFileThatIsADirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := parse(t, []string{"--config", dir}, nil)
	if err == nil || err.Error() != "setting config: cannot read "+dir+": is a directory" || strings.Count(err.Error(), dir) != 1 {
		t.Errorf("err = %v, want \"setting config: cannot read %s: is a directory\"", err, dir)
	}
}
