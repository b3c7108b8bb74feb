package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/demo"
)

// runDemo starts two vaspd instances on loopback and pays between them.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vaspd demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "keep both instances' data in this new or empty directory (default: a temporary one, removed at the end)")
	if err := parseFlags(fs, stdout, stderr, func() error { return fs.Parse(args) }); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// An unknown flag or --dir without its value: -dir is a string,
		// which takes any value, so every other error is the command
		// line's.
		return &config.UsageError{Err: err}
	}
	// Not ignored: `demo dir X` (dashes forgotten) would run in a
	// temporary directory and remove it.
	if fs.NArg() > 0 {
		return &config.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return demo.Run(ctx, stdout, demo.Options{Dir: *dir})
}
