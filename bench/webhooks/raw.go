// The raw loopback POST rate: the ceiling the engine is measured against.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/cputime"
)

// rawResult is one raw POST measurement: the rate, and the CPU time per
// POST of this process (client and receiver) and of the whole machine.
type rawResult struct {
	perSecond      float64
	cpuPerPost     time.Duration
	machinePerPost time.Duration
}

// rawRate is how many POSTs per second conc keep-alive clients get through
// to the receiver in dur, each with a body like the engine's.
func rawRate(ctx context.Context, rc *receiver, dur time.Duration, conc int) (rawResult, error) {
	const n = 4096 // distinct bodies, reused round robin
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	bodies := make([][]byte, n)
	for i := range bodies {
		m := map[string]any{"webhookId": vaspd.NewID(vaspd.IDWebhook), "type": delivery.TypeOutgoingPayment,
			"timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
		for k, v := range payload {
			m[k] = v
		}
		bodies[i], _ = json.Marshal(m)
	}
	rc.reset()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start, cpu0, machine0 := time.Now(), cputime.Process(), cputime.Machine()
	end := start.Add(dur)
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				i := next.Add(1) - 1
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rc.url, bytes.NewReader(bodies[i%n]))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	elapsed, cpu, machine, posts := time.Since(start), cputime.Process()-cpu0, cputime.Machine()-machine0, next.Load()
	if err, ok := failed.Load().(error); ok {
		return rawResult{}, fmt.Errorf("raw POSTs: %w", err)
	}
	r := rawResult{perSecond: float64(posts) / elapsed.Seconds()}
	if posts > 0 {
		r.cpuPerPost, r.machinePerPost = cpu/time.Duration(posts), machine/time.Duration(posts)
	}
	return r, nil
}
