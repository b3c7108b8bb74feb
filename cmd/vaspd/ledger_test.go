package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestLedgerAccountsCLI: `vaspd ledger accounts` prints every system
// account's balances as JSON, an overpaid payment's excess among them.
func TestLedgerAccountsCLI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testLedgerAccountsCLI(t, func() (*store.DB, error) {
			return sqlite.Open(context.Background(), filepath.Join(dir, "vaspd.db"), nil)
		}, "--data-dir", dir)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		testLedgerAccountsCLI(t, func() (*store.DB, error) {
			return postgres.Open(context.Background(), u, nil)
		}, "--data-dir", t.TempDir(), "--database-url", u)
	})
}

func testLedgerAccountsCLI(t *testing.T, open func() (*store.DB, error), flags ...string) {
	db, err := open()
	if err != nil {
		t.Fatal(err)
	}
	r := ledger.Receive{ID: "receive/1", UserID: vaspd.NewID(vaspd.IDUser), Msats: 10_000, PaidMsats: 15_000,
		FeeMsats: 100, Currency: "EUR", Amount: 9}
	if _, err := ledger.New(db, nil).Post(context.Background(), r.Movement()); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	code, out, errs := runCmd(append([]string{"ledger", "accounts"}, flags...)...)
	if code != 0 {
		t.Fatalf("ledger accounts: exit %d, stderr %q", code, errs)
	}
	var got struct {
		Accounts []struct {
			Account  string `json:"account"`
			Balances []struct {
				Currency string `json:"currency"`
				Amount   int64  `json:"amount"`
			} `json:"balances"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON (%v): %s", err, out)
	}
	want := "[{system:node [{BTC -15000}]} {system:fx [{BTC 9900} {EUR -9}]} {system:fees [{BTC 100}]} {system:fiat []} " +
		"{system:overpaid [{BTC 5000}]} {system:unmatched []}]"
	if s := fmt.Sprint(got.Accounts); s != want {
		t.Fatalf("accounts %s, want %s", s, want)
	}
	if code, _, _ := runCmd(append([]string{"ledger", "frobnicate"}, flags...)...); code != 2 {
		t.Fatalf("unknown subcommand: exit %d, want 2", code)
	}
}
