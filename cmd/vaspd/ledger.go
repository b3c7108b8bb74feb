package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vaspd/vaspd/ledger"
)

// runLedger is `vaspd ledger accounts`: the balances of the VASP's own
// (system) accounts, as GET /ledger/accounts answers them, read from the
// configured database (openLocalDB: never migrating, and only reading, so
// it may run beside a server). Currencies are printed by code alone: the
// rates file is the server's business.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage: vaspd ledger accounts [flags]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "accounts" {
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "vaspd ledger: unknown command %q (want accounts)\n", args[0])
		}
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	_, db, err := openLocalDB(ctx, "ledger accounts", args[1:], stdout, stderr, nil, nil)
	if err != nil {
		return err
	}
	defer db.Close()
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
