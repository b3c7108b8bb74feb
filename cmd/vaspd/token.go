package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/daemon"
)

// tokenListPage is how many tokens `token list` reads at a time (a
// variable for the tests).
var tokenListPage = 1000

// runToken manages tokens directly in the configured database, so an
// operator can mint a credential without one (e.g. after losing the admin secret).
// It may run beside `vaspd serve`, even on SQLite: it does not take the
// server's lock (internal/daemon/lock.go), and its short transactions wait
// for the server's on SQLite's own lock (busy_timeout). It never migrates
// (only serve does, so a CLI of another version cannot change the schema
// under a server): openLocalDB refuses a database that is not at exactly
// this binary's migrations.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage: vaspd token create --name NAME --permissions VIEW,TRANSACT,MANAGE | token list | token delete --id Token:… [--force]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	// Check the command before the database is opened: `vaspd token -h`
	// and a misspelt command need no database.
	if isHelp(sub) {
		fmt.Fprintln(stdout, usage)
		return flag.ErrHelp
	}
	switch sub {
	case "create", "list", "delete":
	default:
		fmt.Fprintf(stderr, "vaspd token: unknown command %q (want create, list or delete)\n%s\n", sub, usage)
		return errUsage
	}
	var name, perms, id string
	var force bool
	var p []vaspd.Permission
	// The flags are checked before the database is opened: a bad one is a
	// usage error (exit code 2), and a typo never reaches the database.
	check := func(daemon.Config) error {
		var bad string
		switch sub {
		case "create":
			var err error
			if nerr := auth.CheckTokenName(name); nerr != nil {
				bad = "--name: " + nerr.Message
			} else if p, err = vaspd.ParsePermissions(perms); err != nil {
				bad = "--permissions: " + err.Error()
			}
		case "delete":
			// The id as the API reads it, and as tokens are stored:
			// its UUID's hex is case-insensitive (RFC 9562), and
			// compared as typed, an id in upper case was "not found"
			// while its token stayed live.
			canonical, err := vaspd.CanonicalID(vaspd.IDToken, id)
			if err != nil {
				bad = "--id: want Token:<uuid>"
			}
			id = canonical
		}
		if bad != "" {
			fmt.Fprintf(stderr, "vaspd token %s: %s\n%s\n", sub, bad, usage)
			return errUsage
		}
		return nil
	}
	_, db, err := openLocalDB(ctx, "token "+sub, args, stdout, stderr, func(fs *flag.FlagSet) {
		switch sub {
		case "create":
			fs.StringVar(&name, "name", "", "token name, 1 to 200 printable characters (required)")
			fs.StringVar(&perms, "permissions", "", "comma-separated permissions: VIEW, TRANSACT, MANAGE (required)")
		case "delete":
			fs.StringVar(&id, "id", "", "token id, Token:… (required)")
			fs.BoolVar(&force, "force", false, "delete the token even if it is the last one with MANAGE (the API then has none that can create a token)")
		}
	}, check)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens, err := auth.NewTokens(ctx, db, nil)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		var tok auth.CreatedToken
		err := audited(ctx, db, stderr, "vaspd token create", nil, func() (string, error) {
			var err error
			tok, err = tokens.Create(ctx, name, p)
			return tok.ClientID, err
		})
		if err != nil {
			return err
		}
		// The permissions as stored, not --permissions as typed (any
		// case, repeated, with blanks).
		given := make([]string, len(tok.Permissions))
		for i, p := range tok.Permissions {
			given[i] = string(p)
		}
		fmt.Fprintf(stdout, "clientId:     %s\nclientSecret: %s\npermissions:  %s\n(the secret is shown only once)\n",
			tok.ClientID, tok.ClientSecret, strings.Join(given, ","))
	case "list":
		// Every token, page after page: List returns one more than the
		// limit when there is another page.
		enc := json.NewEncoder(stdout)
		after := ""
		for {
			toks, err := tokens.List(ctx, auth.ListFilter{Limit: tokenListPage, After: after})
			if err != nil {
				return err
			}
			more := len(toks) > tokenListPage
			if more {
				toks = toks[:tokenListPage]
			}
			for _, t := range toks {
				if err := enc.Encode(t); err != nil {
					return err
				}
			}
			if !more {
				break
			}
			after = toks[len(toks)-1].ID
		}
	case "delete":
		// The last token with MANAGE is kept, as the API keeps it, unless
		// --force: without one the platform cannot manage its API (nor
		// create a token) until someone runs `vaspd token create` here.
		err := audited(ctx, db, stderr, "vaspd token delete", map[string]string{"tokenId": id}, func() (string, error) {
			if force {
				return "", tokens.Delete(ctx, id)
			}
			return "", tokens.DeleteKeepingManager(ctx, "", id)
		})
		if ve := vaspd.AsError(err); err != nil && ve.Code == vaspd.CodeConflict {
			return fmt.Errorf("nothing deleted: %s is the last token with the MANAGE permission, and without one the platform "+
				"cannot manage its API or create a token; create another MANAGE token first (vaspd token create), or pass --force "+
				"to delete it all the same", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", id)
	}
	return nil
}
