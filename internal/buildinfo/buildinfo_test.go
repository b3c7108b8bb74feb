package buildinfo

import (
	"runtime/debug"
	"testing"
	"time"
)

func TestFrom(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-compiler", Value: "gc"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "8721587a1b2c3d4e5f60718293a4b5c6d7e8f901"},
		{Key: "vcs.time", Value: "2026-12-05T18:03:10Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, c := range []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
		short   string
	}{
		{"nothing recorded", "", nil, "dev", ""},
		{"stamped only", "v1.2.3", nil, "v1.2.3", ""},
		{"go run", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"dev (go1.26.8)", ""},
		{"go build in a checkout with changes", "dev", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"dev (commit 8721587a1b2c-modified, 2026-12-05T18:03:10Z, go1.26.8)", "8721587a1b2c-modified"},
		{"go install of a tag", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}},
			"v0.4.0 (go1.26.8)", ""},
		{"stamped wins over the module's", "v0.5.0-rc1", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Version: "v0.4.0"}, Settings: vcs[:3]},
			"v0.5.0-rc1 (commit 8721587a1b2c, go1.26.8)", "8721587a1b2c"},
		{"a vcs.time that is no time is left out", "", &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "yesterday"}}},
			"dev (commit abc)", "abc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := from(c.stamped, c.bi)
			if got := i.String(); got != c.want {
				t.Errorf("String() = %q, want %q", got, c.want)
			}
			if got := i.ShortRevision(); got != c.short {
				t.Errorf("ShortRevision() = %q, want %q", got, c.short)
			}
		})
	}
	if got := from("", &debug.BuildInfo{Settings: vcs}).Time; !got.Equal(time.Date(2026, 12, 5, 18, 3, 10, 0, time.UTC)) {
		t.Errorf("Time = %v", got)
	}
}

// TestReadThisBinary: a test binary records its Go version, and no
// version was stamped into it.
func TestReadThisBinary(t *testing.T) {
	i := Read("")
	if i.GoVersion == "" || i.Version == "" {
		t.Fatalf("Read = %+v", i)
	}
}
