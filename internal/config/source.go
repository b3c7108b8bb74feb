package config

// SourceKind says which of the four places a setting's value came from.
type SourceKind int

// The places a value comes from, in order of precedence, lowest first. The
// zero SourceKind is FromDefault.
const (
	FromDefault SourceKind = iota
	FromFile
	FromEnv
	FromFlag
)

// String is "default", "file", "env" or "flag".
func (k SourceKind) String() string {
	switch k {
	case FromFile:
		return "file"
	case FromEnv:
		return "env"
	case FromFlag:
		return "flag"
	}
	return "default"
}

// Source is where a setting's value came from: the kind, and the flag
// ("--listen"), environment variable ("VASPD_LISTEN") or file (its path)
// that gave it. The zero Source is the default, which is what a setting
// has before Parse, and after it when nothing gave a value (an empty
// environment variable and a YAML null give none).
type Source struct {
	Kind SourceKind
	Name string // "" for FromDefault
}

// String is "default", or the kind and name: "flag --listen",
// "env VASPD_LISTEN", "file /etc/vaspd.yaml".
func (s Source) String() string {
	if s.Kind == FromDefault {
		return "default"
	}
	return s.Kind.String() + " " + s.Name
}

// IsDefault reports whether nothing gave the setting a value.
func (s Source) IsDefault() bool { return s.Kind == FromDefault }
