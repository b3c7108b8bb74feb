package auth_test

import (
	"context"
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
