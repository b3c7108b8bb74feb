package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
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
func TestLedgerAccountsCLI(t *testing.T) { eachCLIDatabase(t, testLedgerAccountsCLI) }

// eachCLIDatabase runs fn on a new SQLite database and on a new PostgreSQL
// schema (skipped without VASPD_TEST_POSTGRES_URL): open opens it,
// migrated, and flags point the CLI at it.
func eachCLIDatabase(t *testing.T, fn func(t *testing.T, open func() (*store.DB, error), flags ...string)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, func() (*store.DB, error) {
			return sqlite.Open(context.Background(), filepath.Join(dir, "vaspd.db"), nil)
		}, "--data-dir", dir)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		fn(t, func() (*store.DB, error) {
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

// TestLedgerCheckCLI: `vaspd ledger check` audits the ledger and prints
// what it read; it finds a ledger consistent while a server books
// movements beside it (it reads one snapshot), and names the movement that
// does not balance, with exit code 1.
func TestLedgerCheckCLI(t *testing.T) { eachCLIDatabase(t, testLedgerCheckCLI) }

func testLedgerCheckCLI(t *testing.T, open func() (*store.DB, error), flags ...string) {
	db, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := ledger.New(db, nil)
	users := []string{vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser)}
	for _, u := range users {
		if _, err := l.Post(t.Context(), ledger.Deposit("deposit/"+u, u, "USD", 1_000_000, "")); err != nil {
			t.Fatal(err)
		}
	}
	check := func() (int, string, string) {
		return runCmd(append([]string{"ledger", "check"}, flags...)...)
	}
	code, out, errs := check()
	if code != 0 {
		t.Fatalf("ledger check: exit %d, stderr %q", code, errs)
	}
	var got struct {
		Consistent                                 bool
		Movements, Postings, Accounts, BalanceRows int64
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON (%v): %s", err, out)
	}
	if !got.Consistent || got.Movements != 3 || got.Postings != 6 || got.Accounts != 4 || got.BalanceRows != 6 { // with each user's hold row, at zero
		t.Fatalf("ledger check printed %s", out)
	}

	// A server books money between users meanwhile: every check finds the
	// ledger as consistent as it is.
	stop := make(chan struct{})
	moved := make(chan int)
	go func() {
		n := 0
		defer func() { moved <- n }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := users[i%len(users)]
			m := ledger.Withdrawal(fmt.Sprintf("withdrawal/%d", i), u, "USD", 1, "")
			if i%2 == 1 {
				m = ledger.Deposit(fmt.Sprintf("deposit/%d", i), u, "USD", 1, "")
			}
			if _, err := l.Post(context.Background(), m); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	for i := range 8 {
		if code, _, errs := check(); code != 0 {
			close(stop)
			<-moved
			t.Fatalf("check %d beside a server booking movements: exit %d, %s", i+1, code, errs)
		}
	}
	close(stop)
	if n := <-moved; n < 8 {
		t.Fatalf("only %d movements booked beside the checks", n)
	}

	// A posting that unbalances a movement (postings are append-only, but
	// an INSERT by hand or a bug could add one).
	if _, err := db.ExecContext(t.Context(), `INSERT INTO ledger_postings (movement_id, seq, account, currency, amount, created_at)
		VALUES ($1, 99, 'system:fees', 'USD', 1, 0)`, "deposit/"+users[1]); err != nil {
		t.Fatal(err)
	}
	code, _, errs = check()
	if code != 1 || !strings.Contains(errs, "movement deposit/"+users[1]+" does not balance in USD") {
		t.Fatalf("unbalanced movement: exit %d, stderr %q", code, errs)
	}
}
