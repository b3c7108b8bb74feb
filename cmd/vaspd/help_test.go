package main

import (
	"strings"
	"testing"
)

// Help the user asked for (-h, -help, --help, help) goes to stdout with
// exit code 0, so that `vaspd serve -h | less` shows it; nothing goes to
// stderr. No database is needed or created for it.
func TestHelpGoesToStdout(t *testing.T) {
	t.Chdir(t.TempDir()) // a help that opened the default ./vaspd-data would create it here
	for _, args := range [][]string{
		{"-h"}, {"-help"}, {"--help"}, {"help"},
		{"serve", "-h"}, {"serve", "-help"}, {"serve", "--help"},
		{"config", "-h"}, {"config", "help"}, {"config", "show", "-h"}, {"config", "show", "--json", "--help"},
		{"token", "-h"}, {"token", "help"}, {"token", "create", "-h"}, {"token", "list", "-h"}, {"token", "delete", "--help"},
		{"keys", "-h"}, {"keys", "--h"}, {"keys", "--help"}, {"keys", "show", "-h"}, {"keys", "forget", "-h"},
		{"ledger", "-h"}, {"ledger", "help"}, {"ledger", "accounts", "-h"},
		{"backup", "-h"}, {"backup", "--to", "x.db", "-h"},
		{"webhooks", "-h"}, {"webhooks", "-help"}, {"webhooks", "help"}, {"webhooks", "endpoints", "list", "-h"},
		{"webhooks", "endpoints", "-h"}, {"webhooks", "config", "set", "--help"}, {"webhooks", "replay", "-h"},
		{"demo", "-h"}, {"demo", "--help"},
		{"version", "-h"}, {"version", "--help"},
	} {
		code, out, errs := runCmd(args...)
		if code != 0 || !strings.Contains(out, "Usage") || errs != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 0, the usage on stdout and nothing on stderr", args, code, out, errs)
		}
	}
}

// Usage printed because of a mistake (no command, an unknown command or
// flag, a bad flag value, a missing required flag) stays on stderr, with
// the exit code run documents; stdout stays empty, so a pipe never takes
// it for output. A flag's value that happens to be "-h" is a value, not
// a request for help.
func TestMistakeUsageGoesToStderr(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("VASPD_CLIENT_ID", "")
	t.Setenv("VASPD_CLIENT_SECRET", "")
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string // on stderr
	}{
		{nil, 2, "Usage: vaspd <command>"},
		{[]string{"frobnicate"}, 2, "Usage: vaspd <command>"},
		{[]string{"-x"}, 2, "Usage: vaspd <command>"},
		{[]string{"serve", "--nope"}, 2, "Usage: vaspd serve"},
		{[]string{"serve", "--listen"}, 2, "Usage: vaspd serve"},
		{[]string{"serve", "--webhook-retry-window", "-1h"}, 1, "Usage: vaspd serve"},
		{[]string{"config"}, 2, "Usage: vaspd config show"},
		{[]string{"config", "print"}, 2, "Usage: vaspd config show"},
		{[]string{"config", "--json"}, 2, "Usage: vaspd config show"},
		{[]string{"config", "show", "--nope"}, 2, "Usage: vaspd config show"},
		{[]string{"token"}, 2, "Usage: vaspd token"},
		{[]string{"token", "mint"}, 2, "Usage: vaspd token"},
		{[]string{"token", "create", "--nope"}, 2, "Usage: vaspd token create"},
		{[]string{"token", "create", "--permissions", "VIEW", "--data-dir", dir}, 2, "Usage: vaspd token"},
		{[]string{"keys"}, 2, "Usage: vaspd keys"},
		{[]string{"keys", "rotate"}, 2, "Usage: vaspd keys"},
		{[]string{"keys", "--yes"}, 2, "Usage: vaspd keys"},
		{[]string{"keys", "show", "--nope"}, 2, "Usage: vaspd keys show"},
		{[]string{"ledger"}, 2, "Usage: vaspd ledger"},
		{[]string{"ledger", "balances"}, 2, "Usage: vaspd ledger"},
		{[]string{"ledger", "accounts", "--nope"}, 2, "Usage: vaspd ledger accounts"},
		{[]string{"backup", "--nope"}, 2, "Usage: vaspd backup"},
		{[]string{"backup", "--data-dir", dir}, 2, "Usage: vaspd backup"},
		{[]string{"webhooks"}, 2, "Usage: vaspd webhooks"},
		{[]string{"webhooks", "frobnicate"}, 2, "Usage: vaspd webhooks"},
		{[]string{"webhooks", "endpoints"}, 2, "Usage: vaspd webhooks"},
		{[]string{"webhooks", "endpoints", "list", "--nope"}, 2, "Usage: vaspd webhooks"},
		{[]string{"webhooks", "endpoints", "list", "--limit", "x"}, 2, "Usage: vaspd webhooks"},
		{[]string{"demo", "--nope"}, 2, "Usage of vaspd demo"},
		{[]string{"demo", "--dir"}, 2, "Usage of vaspd demo"},
		{[]string{"version", "extra"}, 2, "unexpected argument"},
		{[]string{"token", "list", "extra", "--data-dir", dir}, 2, "unexpected argument"},
		{[]string{"keys", "show", "--data-dir", dir, "extra"}, 2, "unexpected argument"},
		{[]string{"config", "show", "---json"}, 2, "bad flag syntax"},
		// A flag's value that is not of its type is a bad setting, as the
		// same value in VASPD_* or the file is: exit 1.
		{[]string{"config", "show", "--metrics-public=maybe"}, 1, "Usage: vaspd config show"},
		{[]string{"config", "show", "--json=maybe"}, 1, "Usage: vaspd config show"},
		// "-h" as a flag's value: the command runs (and here stops at a
		// refusal of its own), it does not print help.
		{[]string{"backup", "--to", "-h", "--database-url", "postgres://u@127.0.0.1:1/db"}, 2, "--file=-h"},
		{[]string{"webhooks", "endpoints", "create", "--endpoint-url", "https://example.com/hook", "--description", "-h"}, 1, "VASPD_CLIENT_ID"},
	} {
		code, out, errs := runCmd(c.args...)
		if code != c.code || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout and %q on stderr",
				c.args, code, out, errs, c.code, c.want)
		}
	}
}

// `vaspd help <command> [<subcommand>…]` is `vaspd <command> … -h`: the
// same usage, on stdout, exit 0 (git's and go's habit). An unknown
// command after help is a mistake like any unknown command.
func TestHelpCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"serve"}, {"config"}, {"config", "show"}, {"token"}, {"token", "create"}, {"keys", "show"}, {"ledger", "accounts"},
		{"backup"}, {"webhooks"}, {"webhooks", "endpoints", "list"}, {"demo"}, {"version"}, {"help"},
	} {
		code, out, errs := runCmd(append([]string{"help"}, args...)...)
		asked := append(append([]string{}, args...), "-h")
		if args[0] == "help" {
			asked = []string{"-h"}
		}
		wantCode, wantOut, _ := runCmd(asked...)
		if code != wantCode || out != wantOut || errs != "" {
			t.Errorf("help %q: exit %d, stdout %q, stderr %q; want exit %d and stdout %q as with -h", args, code, out, errs, wantCode, wantOut)
		}
	}
	code, out, errs := runCmd("help", "frobnicate")
	if code != 2 || out != "" || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("help frobnicate: exit %d, stdout %q, stderr %q; want exit 2 and the unknown command on stderr", code, out, errs)
	}
}
