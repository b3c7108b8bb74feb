package users_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store/sqlite"
	"github.com/vaspd/vaspd/users"
)

// Create a user from the address the platform sent, then find it the way
// the UMA endpoints do, by the local part of $alice@vasp.example.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "users-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	p, _ := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	s := users.New(db, nil, users.WithRates(p))

	local, err := users.ParseAddress("$Alice@vasp.example", "vasp.example")
	if err != nil {
		panic(err)
	}
	u, err := s.Create(ctx, db, users.User{PlatformUserID: "42", UserType: users.Individual, UMALocal: local,
		FullName: "Alice", KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"EUR"}})
	if err != nil {
		panic(err)
	}
	found, err := s.GetByUMALocal(ctx, db, "alice")
	if err != nil {
		panic(err)
	}
	fmt.Println(found.ID == u.ID, found.UMAAddress("vasp.example"), found.PreferredCurrencies, found.KYCStatus)

	_, err = s.Create(ctx, db, users.User{PlatformUserID: "43", UserType: users.Individual, UMALocal: "ALICE"})
	fmt.Println(err)
	// Output:
	// true $alice@vasp.example [EUR] VERIFIED
	// UMA_ADDRESS_EXISTS: the UMA address $alice is already taken
}
