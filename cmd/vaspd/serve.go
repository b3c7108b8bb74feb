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
	var cfg daemon.Config
	set := &config.Set{}
	cfg.Declare(set)
	fs := flag.NewFlagSet("vaspd "+cmd, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vaspd %s [flags]\n\nSettings come from flags, then VASPD_* environment variables (an empty one is unset), then the --config YAML file, then defaults.\n\n", cmd)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, stdout, stderr, func() error { return set.Parse(fs, args, nil) }); err != nil {
		return cfg, err
	}
	if err := cfg.Resolve(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, stdout, stderr, nil)
	if err != nil {
		return err
	}
	cfg.Version = version // service.version of its traces
	log := newLogger(cfg, stderr)
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
