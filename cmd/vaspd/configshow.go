package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/vaspd/vaspd/internal/config"
)

// runConfig is `vaspd config show [--json]`: every setting serve would run
// with, read and checked as serve reads and checks them (loadSettings),
// with its value as shown (secrets masked) and where it came from. It opens
// no database and starts nothing; a bad setting is its error, the one line
// serve would print, so it doubles as a configuration check.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if _, err := subcommand("config", "Usage: vaspd config show [--json] [serve's flags]", []string{
		"  show  print every setting serve would run with (same flags, VASPD_* variables and --config file):",
		"        its value, secrets masked, and its source (flag, env, file or default); a bad setting exits 1",
	}, []string{"show"}, args, stdout, stderr); err != nil {
		return err
	}
	var asJSON bool
	_, set, err := loadSettings("config show", args[1:], stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, `print one JSON document, {"settings": [{"name", "value", "source", "from", "secret"}, …]}, instead of columns`)
	})
	if err != nil {
		return err
	}
	// On stderr, so that stdout stays the settings alone (--json one
	// document); names only, a value may be a secret.
	for _, m := range set.MisspeltVariables(os.Environ()) {
		fmt.Fprintf(stderr, "vaspd config: warning: %s is no setting's variable and is ignored; did you mean %s (%s)?\n",
			escapeUnprintable(m.Variable), m.Env, m.Setting)
	}
	if asJSON {
		return printSettingsJSON(stdout, set)
	}
	return printSettingsText(stdout, set)
}

// printSettingsText prints one line per setting, in declaration order (the
// README's), in aligned columns: name, value, source. A value that is
// empty or holds white space or a character that is not printable is
// quoted, so that each line stays three fields, and so is a source's file
// path that holds one (a line end would start a line of its own). Not
// printable is strconv's sense, what strconv.Quote escapes: control
// characters (C0 and C1) and format characters too, such as the bidi
// controls (U+202E shows what follows it reversed) and zero-width ones,
// which unicode.IsControl does not count.
func printSettingsText(w io.Writer, set *config.Set) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVALUE\tSOURCE")
	for _, s := range set.Settings() {
		v := s.Value()
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !strconv.IsPrint(r) }) {
			v = strconv.Quote(v)
		}
		src := s.Source().String()
		if strings.ContainsFunc(src, func(r rune) bool { return r != ' ' && !strconv.IsPrint(r) }) {
			src = s.Source().Kind.String() + " " + strconv.Quote(s.Source().Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, v, src)
	}
	return tw.Flush()
}

// shownSetting is one setting in `vaspd config show --json`.
type shownSetting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`            // as shown: secrets masked
	Source string `json:"source"`           // default, flag, env or file
	From   string `json:"from,omitempty"`   // the flag, variable or file's path
	Secret bool   `json:"secret,omitempty"` // a secret: value masked, or without its password
}

func printSettingsJSON(w io.Writer, set *config.Set) error {
	out := struct {
		Settings []shownSetting `json:"settings"`
	}{Settings: []shownSetting{}}
	for _, s := range set.Settings() {
		src := s.Source()
		out.Settings = append(out.Settings, shownSetting{Name: s.Name, Value: s.Value(), Source: src.Kind.String(), From: src.Name, Secret: s.Secret})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
