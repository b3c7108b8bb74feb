package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// POST /tokens answers the token as GET /tokens/{id} shows it later: the
// database keeps microseconds, so a creation time with nanoseconds made the
// two answers differ.
func TestCreatedTokenAsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(time.Date(2026, 12, 4, 18, 52, 40, 938491228, time.UTC))
		tokens, err := auth.NewTokens(ctx, db, clock)
		if err != nil {
			t.Fatal(err)
		}
		created, err := tokens.Create(ctx, "ops", []vaspd.Permission{vaspd.PermView})
		if err != nil {
			t.Fatal(err)
		}
		got, err := tokens.Get(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !created.CreatedAt.Equal(got.CreatedAt) || !created.UpdatedAt.Equal(got.UpdatedAt) {
			t.Errorf("created at %v / %v, stored %v / %v", created.CreatedAt, created.UpdatedAt, got.CreatedAt, got.UpdatedAt)
		}
	})
}

// A clientId names its token with the UUID in either case (RFC 9562), as
// every id vaspd reads does; one in upper case was refused as invalid
// credentials, and counted as a failed authentication. The secret is
// still checked.
func TestAuthenticateUUIDInEitherCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tokens, err := auth.NewTokens(ctx, db, vaspd.NewFakeClock(time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)))
		if err != nil {
			t.Fatal(err)
		}
		created, err := tokens.Create(ctx, "ops", []vaspd.Permission{vaspd.PermView})
		if err != nil {
			t.Fatal(err)
		}
		upper := "Token:" + strings.ToUpper(strings.TrimPrefix(created.ClientID, "Token:"))
		if upper == created.ClientID {
			t.Fatalf("clientId %s has no letters to upper-case", created.ClientID)
		}
		tok, err := tokens.Authenticate(ctx, upper, created.ClientSecret)
		if err != nil || tok.ID != created.ID {
			t.Fatalf("Authenticate(%s): %+v, %v; want token %s", upper, tok, err, created.ID)
		}
		if _, err := tokens.Authenticate(ctx, upper, created.ClientSecret+"x"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("a wrong secret with the upper-case id: %v, want ErrInvalidCredentials", err)
		}
	})
}
