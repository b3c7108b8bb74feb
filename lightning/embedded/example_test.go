package embedded_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store/sqlite"
)

// A node pays its own invoice; the proof of payment is a preimage whose
// sha256 is the payment hash.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	node, err := embedded.Open(ctx, db, embedded.Options{}) // regtest, 1 BTC of test money
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()

	inv, err := node.CreateInvoice(ctx, lightning.InvoiceRequest{
		AmountMsat:      50_000,
		DescriptionHash: sha256.Sum256([]byte(`[["text/plain","pay $bob"]]`)),
		Expiry:          10 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(inv.PaymentRequest, "lnbcrt500n1"))

	p, err := node.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Status, sha256.Sum256(p.Preimage[:]) == p.PaymentHash)
	// Output:
	// true
	// SUCCEEDED true
}
