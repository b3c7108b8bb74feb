package storetest_test

import (
	"context"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
)

func openPostgres(u string) (*store.DB, error) { return postgres.Open(context.Background(), u, nil) }
