package embedded_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Benchmarks on SQLite and, with VASPD_TEST_POSTGRES_URL, PostgreSQL.
// For one JSON line: go run ./lightning/embedded/internal/benchcmd.

func benchDBs(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.Postgres(b)) })
}

func BenchmarkCreateInvoice(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *store.DB) {
		n, err := embedded.Open(context.Background(), db, embedded.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		req := lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: sha256.Sum256([]byte("d")), Expiry: time.Hour}
		b.ResetTimer()
		for b.Loop() {
			if _, err := n.CreateInvoice(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPaySelf is one create + pay of the node's own invoice.
func BenchmarkPaySelf(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *store.DB) {
		n, err := embedded.Open(context.Background(), db, embedded.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		benchPay(b, n, n)
	})
}

// BenchmarkPayDevnet is one create + pay across the devnet (HTTP on loopback).
func BenchmarkPayDevnet(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *store.DB) {
		c := newCluster(b, db, func(i int, o *embedded.Options) { o.Clock = nil })
		benchPay(b, c.alice(), c.bob())
	})
}

func benchPay(b *testing.B, payer, payee *embedded.Node) {
	ctx := context.Background()
	req := lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: sha256.Sum256([]byte("d")), Expiry: time.Hour}
	b.ResetTimer()
	for b.Loop() {
		inv, err := payee.CreateInvoice(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		p, err := payer.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1000, Timeout: 10 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			b.Fatalf("Pay: %+v, %v", p, err)
		}
	}
}
