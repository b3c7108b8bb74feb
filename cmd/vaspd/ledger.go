package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
)

// runLedger is `vaspd ledger accounts|check`, read from the configured
// database (openLocalDB: never migrating, and only reading, so either may
// run beside a server).
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage: vaspd ledger accounts|check [flags]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		fmt.Fprintln(stdout, "  accounts  print the balances of the VASP's own (system) accounts as JSON")
		fmt.Fprintln(stdout, "  check     audit the whole ledger (every movement balances, every balance is its postings' sum)")
		return flag.ErrHelp
	}
	if len(args) == 0 || (args[0] != "accounts" && args[0] != "check") {
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "vaspd ledger: unknown command %q (want accounts or check)\n", args[0])
		}
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	_, db, err := openLocalDB(ctx, "ledger "+args[0], args[1:], stdout, stderr, nil, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "check" {
		return checkLedger(ctx, db, stdout)
	}
	return printSystemAccounts(ctx, db, stdout)
}

// checkLedger is `vaspd ledger check`: ledger.Audit in one snapshot of the
// database, so that it may run beside a server that keeps booking
// payments (read at two moments, a balance row and its postings could
// disagree) and holds up none of its writes. A consistent ledger prints
// what was read as one JSON line; an inconsistency is the command's error
// (exit code 1).
func checkLedger(ctx context.Context, db *store.DB, stdout io.Writer) error {
	var a ledger.Audit
	err := db.InSnapshot(ctx, func(tx *store.Tx) error {
		var err error
		a, err = ledger.New(db, nil).Audit(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(struct {
		Consistent  bool  `json:"consistent"`
		Movements   int64 `json:"movements"`
		Postings    int64 `json:"postings"`
		Accounts    int64 `json:"accounts"`
		BalanceRows int64 `json:"balanceRows"`
	}{true, a.Movements, a.Postings, a.Accounts, a.BalanceRows})
}

// printSystemAccounts is `vaspd ledger accounts`: the balances of the
// VASP's own (system) accounts, as GET /ledger/accounts answers them.
// Currencies are printed by code alone: the rates file is the server's
// business.
func printSystemAccounts(ctx context.Context, db *store.DB, stdout io.Writer) error {
	bs, err := ledger.New(db, nil).SystemBalances(ctx, db)
	if err != nil {
		return err
	}
	type balance struct {
		Currency string `json:"currency"`
		Amount   int64  `json:"amount"`
	}
	type account struct {
		Account  string    `json:"account"`
		Balances []balance `json:"balances"`
	}
	out := struct {
		Accounts []account `json:"accounts"`
	}{Accounts: []account{}}
	for _, a := range ledger.BySystemAccount(bs) {
		acc := account{Account: string(a.Account), Balances: []balance{}}
		for _, b := range a.Balances {
			acc.Balances = append(acc.Balances, balance{Currency: b.Currency, Amount: b.Amount})
		}
		out.Accounts = append(out.Accounts, acc)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
