package webhook_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // or _ "github.com/jackc/pgx/v5/stdlib" with sql.Open("pgx", url)

	"github.com/vaspd/vaspd/webhook"
)

// A receiver that runs several instances, or must not forget processed
// webhookIds when it restarts, keeps them in SQL: open the database, create
// the table (safe to run at every start, from every instance at once), purge
// expired rows now and then, and give the store to the Handler.
func ExampleNewSQLStore() {
	dir, err := os.MkdirTemp("", "receipts")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// WAL and a busy timeout let SQLite queue concurrent writers itself.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "receipts.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	store, err := webhook.NewSQLStore(db, "") // "" means the table webhook_receipts
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	// Expired ids (past their retention, or leases of a process that died)
	// are only deleted by Purge: run it periodically.
	go func() {
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := store.Purge(ctx); err != nil {
					log.Print(err)
				}
			}
		}
	}()

	verifier, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{"whsec_wIoKh6qFTFFdpP4PjwU6ZYC2vxhYqb8JyBM2mBxIApk="}})
	if err != nil {
		log.Fatal(err)
	}
	handler, err := webhook.NewHandler(webhook.HandlerConfig{
		Verifier: verifier,
		Store:    store,
		// Keep a processed id longer than the sender retries (vaspd: 3 days).
		Retention: webhook.DefaultRetention,
		Handler: webhook.EventHandlerFunc(func(ctx context.Context, ev webhook.Event) (webhook.Reply, error) {
			return webhook.OK(), nil
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = handler // mux.Handle("POST /webhooks/vaspd", handler)

	// What the Handler does with the store for each webhookId:
	token, _ := store.Claim(ctx, "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a01", webhook.DefaultLease)
	_, err = store.Claim(ctx, "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a01", webhook.DefaultLease)
	fmt.Println("while the handler runs:", err)
	_ = store.Complete(ctx, "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a01", token, webhook.DefaultRetention)
	_, err = store.Claim(ctx, "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a01", webhook.DefaultLease)
	fmt.Println("after it succeeded:", err)

	// Output:
	// while the handler runs: webhook: being processed
	// after it succeeded: webhook: already processed
}
