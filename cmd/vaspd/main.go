// Command vaspd is a self-hosted UMA VASP in one binary.
//
//	vaspd serve                 run the server (SQLite in ./vaspd-data by default)
//	vaspd config show [--json]  print the settings serve would run with and where each came from
//	vaspd token create …        create a platform-API token against the local database
//	vaspd keys show|forget      show or forget the UMA public keys recorded in the database
//	vaspd ledger accounts       print the balances of the VASP's own ledger accounts
//	vaspd ledger check          audit the whole ledger, beside a running server
//	vaspd backup --to PATH      write a consistent copy of the SQLite database, beside a running server
//	vaspd webhooks …            manage webhook endpoints and deliveries through the API
//	vaspd demo                  two VASPs on loopback pay each other, step by step
//	vaspd version               print the version
//
// Every subcommand accepts -h for its settings (vaspd help <command> says
// the same). This file and its siblings only parse the command line and
// wire packages together.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/vaspd/vaspd/internal/buildinfo"
	"github.com/vaspd/vaspd/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…";
// `vaspd version` adds the commit and Go version the binary records
// (internal/buildinfo).
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the vaspd server", runServe},
		{"config", "print every setting serve would run with, its value (secrets masked) and source (config show [--json])", runConfig},
		{"token", "manage platform-API tokens (token create|list|delete)", runToken},
		{"keys", "show or forget the UMA public keys recorded in the database (keys show|forget)", runKeys},
		{"ledger", "show the VASP's own ledger accounts (ledger accounts), audit the ledger (ledger check)", runLedger},
		{"backup", "write a consistent copy of the SQLite database, beside a running server (backup --to PATH)", runBackup},
		{"webhooks", "manage webhooks through the API (webhooks endpoints|deliveries|replay|test|config …)", runWebhooks},
		{"demo", "run two VASPs on loopback: $alice pays $bob €10 from her dollars, then his €5 payment request, step by step", runDemo},
		{"version", "print the version", func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) > 0 && isHelp(args[0]) {
				fmt.Fprintln(stdout, "Usage: vaspd version")
				return flag.ErrHelp
			}
			if len(args) > 0 {
				return &config.UsageError{Err: fmt.Errorf("unexpected argument %q", args[0])}
			}
			fmt.Fprintf(stdout, "vaspd %s\n", buildinfo.Read(version))
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0 on
// success and for -h, 2 for a mistake in the command line: a missing or
// unknown command or subcommand, an unknown flag, a flag without its
// value, a stray argument (a config.UsageError, its line on stderr) and a
// subcommand's own usage errors (errUsage), such as a missing or bad
// --name, --permissions or --id of vaspd token, refused before the
// database is opened; 1 for everything else (with one line on stderr), a
// bad setting value included (a flag's as a VASPD_* variable's or the
// file's). Usage asked for (-h, -help,
// --help, help) goes to stdout; usage printed because of a mistake goes to
// stderr with the error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if isHelp(args[0]) {
		// `vaspd help serve` is `vaspd serve -h`, as with git and go.
		if args[0] == "help" && len(args) > 1 && !isHelp(args[1]) {
			return run(ctx, append(args[1:len(args):len(args)], "-h"), stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			var mistake *config.UsageError
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			case errors.As(err, &mistake):
				fmt.Fprintf(stderr, "vaspd %s: %s\n", c.name, oneLine(err.Error()))
				return 2
			default:
				fmt.Fprintf(stderr, "vaspd %s: %s\n", c.name, oneLine(err.Error()))
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "vaspd: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

var errUsage = errors.New("usage error")

// oneLine joins a multi-line error (a driver listing each address it
// tried, errors.Join of a failure and the shutdown after it) into the one
// line the README promises, with every other character that is not
// printable escaped (escapeUnprintable).
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i, l := range lines {
		lines[i] = escapeUnprintable(strings.TrimSpace(l))
	}
	return cutLine(strings.Join(lines, "; "), maxErrorLine)
}

// maxErrorLine bounds the error line: a bad value is echoed in it, and one
// from the config file may be a megabyte.
const maxErrorLine = 2000

// cutLine is line, or its first max bytes (at a character's start) and
// how many more there were.
func cutLine(line string, max int) string {
	if len(line) <= max {
		return line
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes more)", line[:cut], len(line)-cut)
}

// escapeUnprintable writes each character of s that strconv does not
// count as printable, but a tab, as Go quotes it (\x1b, \u202e), the
// rest as it is (a byte that is no UTF-8 as U+FFFD). What goes to stderr
// names what it was given — a file's path, a flag, a value of the
// database, a server's message — and stderr is a terminal, where an escape
// sequence, a C1 control or a bidi override written raw would recolour,
// move or reorder what the operator reads.
func escapeUnprintable(s string) string {
	unprintable := func(r rune) bool { return r != ' ' && r != '\t' && !strconv.IsPrint(r) }
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unprintable(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\x1b'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "vaspd — a self-hosted UMA VASP\n\nUsage: vaspd <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'vaspd <command> -h' or 'vaspd help <command>' for a command's settings.\n")
}

// isHelp reports whether a command-line argument asks for help: the
// flag package's -h, -help, --h and --help, and the word help. Only for an
// argument in a command's place; among flags, the flag package decides
// (so that the value of --name -h stays a value).
// subcommand picks the subcommand of `vaspd cmd SUB …` from args[0], one
// of subs. For -h it prints usage and the help lines to stdout and returns
// flag.ErrHelp; for a missing or unknown subcommand it prints usage (after
// naming the unknown one) to stderr and returns errUsage. A first argument
// that is a flag is not named: it is a missing subcommand.
func subcommand(cmd, usage string, help []string, subs []string, args []string, stdout, stderr io.Writer) (string, error) {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		for _, h := range help {
			fmt.Fprintln(stdout, h)
		}
		return "", flag.ErrHelp
	}
	if len(args) > 0 && slices.Contains(subs, args[0]) {
		return args[0], nil
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		want := subs[len(subs)-1]
		if len(subs) > 1 {
			want = strings.Join(subs[:len(subs)-1], ", ") + " or " + want
		}
		fmt.Fprintf(stderr, "vaspd %s: unknown command %q (want %s)\n", cmd, args[0], want)
	}
	fmt.Fprintln(stderr, usage)
	return "", errUsage
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--h", "--help", "help":
		return true
	}
	return false
}

// parseFlags runs parse, which parses fs, with what the flag package prints
// (an error and the usage after it, or the usage alone) held back until
// the outcome is known: usage the user asked for (flag.ErrHelp) goes to
// stdout, where `vaspd serve -h | less` finds it, and usage printed for a
// mistake goes to stderr, beside the error, so stdout carries only a
// command's output. fs.Usage must write to fs.Output().
func parseFlags(fs *flag.FlagSet, stdout, stderr io.Writer, parse func() error) error {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := parse()
	fs.SetOutput(stderr)
	w := stderr
	if errors.Is(err, flag.ErrHelp) {
		w = stdout
	}
	// The flag package names an unknown flag as it was typed.
	lines := strings.Split(out.String(), "\n")
	for i, l := range lines {
		lines[i] = escapeUnprintable(l)
	}
	_, _ = io.WriteString(w, strings.Join(lines, "\n"))
	return err
}
