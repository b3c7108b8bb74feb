package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
)

// receiver is a loopback webhook receiver counting distinct webhook-ids.
type receiver struct {
	srv  *http.Server
	url  string
	mu   sync.Mutex
	seen map[string]bool
}

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{url: "http://" + ln.Addr().String() + "/webhooks", seen: map[string]bool{}}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

func (rc *receiver) Close() { _ = rc.srv.Close() }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	rc.mu.Lock()
	rc.seen[r.Header.Get("webhook-id")] = true
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	rc.seen = map[string]bool{}
	rc.mu.Unlock()
}

// payload is the type-specific part of every webhook: about the size of an
// OUTGOING_PAYMENT webhook.
var payload = map[string]any{"transaction": map[string]any{"id": "Transaction:019a0000-0000-7000-8000-000000000000",
	"status": "COMPLETED", "note": fmt.Sprintf("%0400d", 0)}}

// body returns a webhook body as delivery would encode it: the payload plus
// the envelope (webhookId, type, timestamp).
func body(id string) []byte {
	m := map[string]any{"webhookId": id, "type": delivery.TypeOutgoingPayment,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range payload {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// rawRate is how many POSTs per second conc keep-alive clients get through
// to the receiver in dur.
func rawRate(ctx context.Context, rc *receiver, dur time.Duration, conc int) (float64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	b := body(vaspd.NewID(vaspd.IDWebhook))
	var count atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rc.url, bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("webhook-id", "raw")
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, fmt.Errorf("raw POSTs: %w", err)
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}
