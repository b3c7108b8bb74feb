package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store/storetest"
)

// The embedded node's log lines name their component once: the node adds
// its own ("lightning/embedded"), and a second "component" key from the
// daemon made every such JSON line carry the key twice, which JSON tools
// either reject or resolve to one of the two.
func TestEmbeddedNodeLogsOneComponent(t *testing.T) {
	var buf bytes.Buffer
	cfg := baseConfig()
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	_, n, err := openLightning(context.Background(), storetest.SQLite(t), cfg.Lightning, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("the embedded node logged nothing")
	}
	for _, line := range lines {
		if c := strings.Count(line, `"component":`); c != 1 {
			t.Errorf("%d component keys in %s", c, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not JSON: %s", line)
		}
	}
}
