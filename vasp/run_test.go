package vasp_test

import (
	"context"
	"testing"

	"github.com/vaspd/vaspd/vasp"
)

// runService runs s's background work (settlement, sweeps, resolvers,
// refreshes) until the test ends, then waits for it to stop.
func runService(t *testing.T, s *vasp.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
