package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/sqlite"
)

// Enqueue a webhook in the same transaction as the state change it
// announces; the worker (Run) delivers it once the transaction commits.
func ExampleService_Enqueue() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "delivery-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()

	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Type, Note string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body.Type + " " + body.Note
	}))
	defer receiver.Close()

	// The receiver is on loopback, which the SSRF guard refuses unless allowed.
	svc, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.1"}})
	if err != nil {
		panic(err)
	}
	url := receiver.URL
	if _, _, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &url}); err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- svc.Run(runCtx) }()

	err = db.InTx(ctx, func(tx *store.Tx) error {
		// … the caller's own writes go here …
		_, err := svc.Enqueue(ctx, tx, delivery.Event{Type: delivery.TypeTest, Data: map[string]string{"note": "hello"}})
		return err
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	stop()
	<-done
	// Output: TEST hello
}
