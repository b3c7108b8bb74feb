package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
)

// runLedger is `vaspd ledger accounts|check`, read from the configured
// database (openLocalDB: never migrating, and only reading, so either may
// run beside a server).
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, err := subcommand("ledger", "Usage: vaspd ledger accounts|check [flags]", []string{
		"  accounts  print the balances of the VASP's own (system) accounts as JSON",
		"  check     audit the whole ledger (every movement balances, every balance is its postings' sum)",
	}, []string{"accounts", "check"}, args, stdout, stderr)
	if err != nil {
		return err
	}
	_, db, err := openLocalDB(ctx, "ledger "+sub, args[1:], stdout, stderr, nil, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "check" {
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
