package embedded_test

import (
	"testing"

	"github.com/vaspd/vaspd/lightning/lightningtest"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestContract runs the lightning.Node contract suite on two embedded nodes
// paying each other over the devnet, on SQLite and PostgreSQL.
func TestContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		lightningtest.Run(t, newCluster(t, db, nil))
	})
}
