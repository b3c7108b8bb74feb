package lnd_test

import (
	"context"
	"crypto/sha256"
	"log"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
)

// Connecting vaspd to an lnd node: pin its certificate, use a macaroon
// baked with only the permissions the backend needs, and resolve payments
// a previous process left in flight before serving.
func Example() {
	var db *store.DB // vaspd's database, migrated
	node, err := lnd.New(lnd.Options{
		RESTURL:      "https://127.0.0.1:8080",
		TLSCertPath:  "/home/lnd/.lnd/tls.cert",
		MacaroonPath: "/etc/vaspd/lnd.macaroon", // lncli bakemacaroon info:read invoices:read invoices:write offchain:read offchain:write
		Network:      "mainnet",                 // lnd must be on it: a node on another network is refused
		DB:           db,
		MaxFeeMsat:   50_000,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := node.ResolveInFlight(ctx); err != nil {
		log.Print(err) // lnd unreachable: retry later; nothing is lost
	}
	metadata, payerData := `[["text/plain","Pay to $alice"]]`, `{"identifier":"$bob@vasp.example"}`
	inv, err := node.CreateInvoice(ctx, lightning.InvoiceRequest{
		AmountMsat:      21_000_000,
		DescriptionHash: sha256.Sum256([]byte(metadata + payerData)), // LUD-18; required
		Expiry:          10 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Print(inv.PaymentRequest)
}
