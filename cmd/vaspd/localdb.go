package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/store"
)

// openLocalDB is how `vaspd token`, `keys`, `ledger` and `backup` reach the local
// installation: it loads cmd's settings as serve does (loadConfig, with
// extra's flags) and opens the database they name once, without retrying
// and never migrating (daemon.OpenDB refuses a database that is not at
// exactly this binary's migrations). -h stops it before the database is
// opened, its usage on stdout; callers check their subcommand first, so a
// misspelt one needs no database either, and check (if not nil), called
// once the flags are parsed, checks extra's flags (and the settings it is
// given, such as which database they name) before the database is opened:
// a bad one is refused without touching it (or reaching for one that is
// not there).
// The caller closes the database.
func openLocalDB(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet), check func(daemon.Config) error) (daemon.Config, *store.DB, error) {
	cfg, err := loadConfig(cmd, args, stdout, stderr, extra)
	if err != nil {
		return cfg, nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return cfg, nil, err
		}
	}
	db, err := daemon.OpenDB(ctx, cfg, slog.New(slog.DiscardHandler))
	return cfg, db, err
}
