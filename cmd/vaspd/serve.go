package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/daemon"
)

// loadConfig declares the daemon's settings on a flag set for cmd and parses
// flags, VASPD_* environment and the optional YAML file. On -h it prints
// the flags to stdout and returns flag.ErrHelp; a flag's error and the
// usage after it go to stderr (parseFlags).
func loadConfig(cmd string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet)) (daemon.Config, error) {
	cfg, _, err := loadSettings(cmd, args, stdout, stderr, extra)
	return cfg, err
}

// loadSettings is loadConfig, also returning the settings: their values
// as Resolve left them (a domain derived from listen, say) and where each
// came from, for the start-up log and `vaspd config show`.
func loadSettings(cmd string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet)) (daemon.Config, *config.Set, error) {
	var cfg daemon.Config
	set := &config.Set{}
	cfg.Declare(set)
	fs := flag.NewFlagSet("vaspd "+cmd, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vaspd %s [flags]\n\nSettings come from flags, then VASPD_* environment variables (an empty one is unset; values are trimmed of surrounding white space), then the --config YAML file, then defaults.\n\n", cmd)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, stdout, stderr, func() error { return set.Parse(fs, args, nil) }); err != nil {
		return cfg, nil, err
	}
	if err := cfg.Resolve(); err != nil {
		return cfg, nil, err
	}
	return cfg, set, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, set, err := loadSettings("serve", args, stdout, stderr, nil)
	if err != nil {
		return err
	}
	cfg.Version = version // service.version of its traces
	log := newLogger(cfg, stderr)
	logSettings(log, set)
	logMisspelt(log, set.MisspeltVariables(os.Environ()))
	d, err := daemon.New(cfg, log, stdout)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

func newLogger(cfg daemon.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel)) // validated by Resolve
	opts := &slog.HandlerOptions{Level: lvl}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logSettings is serve's start-up record of its settings: one INFO record,
// "vaspd settings", holding each setting given by a flag, a VASPD_*
// variable or the --config file, its value as shown (Setting.Value:
// secrets masked, database-url without its password) and its source, and
// the number left at their defaults; those are listed, each with its value,
// in a DEBUG record after it. Most settings are at their defaults on most
// deployments, and the README and `vaspd config show` tell them: what an
// operator looks for at INFO is what this deployment changed, and where.
func logSettings(log *slog.Logger, set *config.Set) {
	var given, defaults []any
	for _, s := range set.Settings() {
		a := slog.Group(s.Name, "value", s.Value(), "source", s.Source().String())
		if s.Source().IsDefault() {
			defaults = append(defaults, a)
		} else {
			given = append(given, a)
		}
	}
	log.Info("vaspd settings", slog.Group("settings", given...), "at_default", len(defaults))
	log.Debug("vaspd settings at their defaults", slog.Group("settings", defaults...))
}

// logMisspelt is serve's warning of each VASPD_* variable that is no
// setting's but close to one's (config.Set.MisspeltVariables): vaspd
// ignores it, and its setting is left where it was. Names only: its value
// may be a secret.
func logMisspelt(log *slog.Logger, ms []config.Misspelt) {
	for _, m := range ms {
		log.Warn("environment variable is no setting's, ignored: a misspelling of the setting's?", "variable", m.Variable,
			"setting", m.Setting, "setting_variable", m.Env)
	}
}
