package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vaspd/vaspd/internal/daemon"
)

// runKeys shows or forgets the UMA public keys recorded in the configured
// database: the keys every process of the deployment serves
// (internal/daemon/keys.go). Forgetting them is how a key is replaced on
// purpose (README, "UMA keys across processes"). It opens the database as
// `vaspd token` does (openLocalDB: never migrating); `keys show` may run
// beside a server, `keys forget` on SQLite takes the server's lock and so
// refuses while one runs.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, err := subcommand("keys", "Usage: vaspd keys show | keys forget [--yes]", nil, []string{"show", "forget"}, args, stdout, stderr)
	if err != nil {
		return err
	}
	args = args[1:]
	var yes bool
	cfg, db, err := openLocalDB(ctx, "keys "+sub, args, stdout, stderr, func(fs *flag.FlagSet) {
		if sub == "forget" {
			fs.BoolVar(&yes, "yes", false, "forget the recorded keys (without it, only say what forgetting does)")
		}
	}, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "show" || !yes {
		keys, err := daemon.RecordedKeys(ctx, db)
		if err != nil {
			return err
		}
		if sub == "show" {
			printRecordedKeys(stdout, keys)
			previous, ignored, err := daemon.PreviousEncryptionKeys(ctx, cfg, db)
			if err != nil {
				return err
			}
			printPreviousKeys(stdout, previous, ignored)
			return nil
		}
		printForgetWarning(stderr, cfg, keys)
		return errUsage
	}
	var forgot []daemon.RecordedKey
	err = audited(ctx, db, stderr, "vaspd keys forget", nil, func() (_ string, err error) {
		forgot, err = daemon.ForgetKeys(ctx, cfg, db)
		return "", err
	})
	if err != nil {
		return err
	}
	if len(forgot) == 0 {
		fmt.Fprintln(stdout, "No UMA public keys are recorded: nothing to forget.")
		return nil
	}
	for _, k := range forgot {
		fmt.Fprintf(stdout, "forgot the %s key %s\n", k.Key, k.Public)
	}
	fmt.Fprintln(stdout, "The next vaspd process to start records the keys it serves: start every process with the same (new) key files.")
	return nil
}

// printRecordedKeys is `vaspd keys show`: public keys only, never a
// private key. Each is printed compressed, as recorded, and uncompressed,
// as /.well-known/lnurlpubkey serves it.
func printRecordedKeys(w io.Writer, keys []daemon.RecordedKey) {
	for _, k := range keys {
		label := k.Key + " key:"
		if k.Public == "" {
			fmt.Fprintf(w, "%-16s none recorded (the next vaspd serve records the key it serves)\n", label)
			continue
		}
		fmt.Fprintf(w, "%-16s %s\n", label, k.Public)
		if k.Served != "" {
			fmt.Fprintf(w, "  served as:     %s (uncompressed, at /.well-known/lnurlpubkey)\n", k.Served)
		}
		switch k.Source {
		case daemon.KeyFromDatabase:
			fmt.Fprintf(w, "  source:        the database's own key, generated on first start (%s not used, or holding the same key)\n", k.Setting)
		default:
			fmt.Fprintf(w, "  source:        a key file (%s): not the key kept in the database\n", k.Setting)
		}
		fmt.Fprintf(w, "  recorded:      %s\n", k.Recorded.UTC().Format(time.RFC3339))
	}
}

// printPreviousKeys is the rest of `vaspd keys show`: the decrypt-only
// encryption keys (daemon.PreviousEncryptionKeys) as this command's
// settings name them, public keys only.
func printPreviousKeys(w io.Writer, keys []daemon.PreviousKey, ignored []daemon.IgnoredKey) {
	if len(keys) == 0 && len(ignored) == 0 {
		fmt.Fprintln(w, "previous encryption keys: none (uma-previous-encryption-key-files not set)")
		return
	}
	fmt.Fprintln(w, "previous encryption keys: DECRYPT ONLY (never served, never used to encrypt; they open travel-rule data senders encrypted to them)")
	for _, k := range keys {
		pub := k.Key.PubKey()
		fmt.Fprintf(w, "  decrypt-only key: %s\n", hex.EncodeToString(pub.SerializeCompressed()))
		fmt.Fprintf(w, "    was served as:  %s (uncompressed)\n", hex.EncodeToString(pub.SerializeUncompressed()))
		fmt.Fprintf(w, "    source:         %s\n", k.Source())
	}
	for _, i := range ignored {
		fmt.Fprintf(w, "  ignored: %s (%s)\n", i.File, i.Why)
	}
}

// printForgetWarning is what `vaspd keys forget` without --yes says.
func printForgetWarning(w io.Writer, cfg daemon.Config, keys []daemon.RecordedKey) {
	fmt.Fprintln(w, "vaspd keys forget deletes the UMA public keys recorded in the database, which every process of")
	fmt.Fprintln(w, "this deployment must serve:")
	for _, k := range keys {
		pub := k.Public
		if pub == "" {
			pub = "(none recorded)"
		}
		fmt.Fprintf(w, "  %-16s %s\n", k.Key+" key:", pub)
	}
	fmt.Fprintln(w, "The next process to start records the keys it serves: its key files' (uma-signing-key-file,")
	fmt.Fprintln(w, "uma-encryption-key-file) or, without them, the database's own keys, which this leaves as they are.")
	fmt.Fprintln(w, "Before you run it:")
	fmt.Fprintln(w, "  - Stop every vaspd process of this deployment: one still running would go on serving the old keys.")
	if cfg.OnSQLite() {
		fmt.Fprintln(w, "    (On SQLite this command refuses while a vaspd serve runs on the database.)")
	} else {
		fmt.Fprintln(w, "    On PostgreSQL this command cannot tell whether other processes are running: make sure yourself.")
	}
	fmt.Fprintln(w, "  - Keep the old encryption key: the travel-rule data of payments pending now was encrypted to it, and senders")
	fmt.Fprintln(w, "    encrypt to it until their cached copy of our keys expires (24 h). Name its file in uma-previous-encryption-key-files")
	fmt.Fprintln(w, "    (decrypt only) on every process; the database's own key is kept as one by itself (README, \"UMA keys across processes\").")
	fmt.Fprintln(w, "Then start every process with the same new key files.")
	fmt.Fprintln(w, "Nothing was changed. To forget the keys, run: vaspd keys forget --yes (with the same settings)")
}
