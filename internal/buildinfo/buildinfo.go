// Package buildinfo says which vaspd binary is running, for the people who
// run it: `vaspd version`, the start-up log line and the vaspd_build_info
// metric all tell the same thing, so a bug report, a log and a dashboard
// name the same build.
//
// The version is the one stamped at build time (-ldflags "-X
// main.version=v1.2.3"), else the main module's version Go records when it
// was built from a tagged module (go install …@v1.2.3), else "dev". The
// revision is the commit Go's VCS stamping records when the binary is built
// with `go build` in a git checkout (not with `go run`, nor with
// -buildvcs=false), marked modified when the tree had uncommitted changes:
// "dev" alone cannot tell two builds apart.
package buildinfo

import (
	"runtime/debug"
	"strings"
	"time"
)

// Info describes one build. The zero value is a build nothing is known of.
type Info struct {
	Version   string    // "v1.2.3", or "dev"
	Revision  string    // the commit built, "" when not recorded
	Modified  bool      // the tree had uncommitted changes
	Time      time.Time // the commit's time, zero when not recorded
	GoVersion string    // the Go toolchain, "go1.26.8"
}

// Read returns the running binary's Info; stamped is the version set at
// build time ("" or "dev" when none was).
func Read(stamped string) Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return from(stamped, bi)
}

// from is Read on a given build record (nil: none).
func from(stamped string, bi *debug.BuildInfo) Info {
	i := Info{Version: stamped}
	if bi != nil {
		i.GoVersion = bi.GoVersion
		if (i.Version == "" || i.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			case "vcs.time":
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					i.Time = t.UTC()
				}
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	return i
}

// ShortRevision is the revision's first 12 characters, with "-modified"
// when the tree had uncommitted changes; "" when no revision was recorded.
func (i Info) ShortRevision() string {
	if i.Revision == "" {
		return ""
	}
	r := i.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified {
		r += "-modified"
	}
	return r
}

// String is the line `vaspd version` prints after "vaspd ":
// "v1.2.3 (commit 0123456789ab, 2026-12-05T18:00:00Z, go1.26.8)", the
// parts not recorded left out.
func (i Info) String() string {
	var parts []string
	if r := i.ShortRevision(); r != "" {
		parts = append(parts, "commit "+r)
	}
	if !i.Time.IsZero() {
		parts = append(parts, i.Time.Format(time.RFC3339))
	}
	if i.GoVersion != "" {
		parts = append(parts, i.GoVersion)
	}
	if len(parts) == 0 {
		return i.Version
	}
	return i.Version + " (" + strings.Join(parts, ", ") + ")"
}
