package delivery

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/ssrf"
)

// TestClientKeepsConnectionsPerHost: endpoints often share one host (a
// platform's /webhooks/a and /webhooks/b), so as many attempts as the
// process allows in flight may go to one host at once. The client keeps
// that many connections to it between rounds instead of closing all but a
// few and dialling again for every round (the crash test's 12 endpoints on
// one host opened ~8 500 connections for 18 000 deliveries).
func TestClientKeepsConnectionsPerHost(t *testing.T) {
	const inFlight = 128
	var conns atomic.Int64
	var arrived sync.WaitGroup
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived.Done()
		<-release // every request of a round is in flight at once
		w.WriteHeader(http.StatusOK)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	guard, err := ssrf.New([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(guard, 5*time.Second, inFlight)
	for round := 0; round < 2; round++ {
		release = make(chan struct{})
		arrived.Add(inFlight)
		var done sync.WaitGroup
		for i := 0; i < inFlight; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				resp, err := client.Post(srv.URL, "application/json", bytes.NewReader([]byte(`{}`)))
				if err != nil {
					t.Error(err)
					arrived.Done()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		arrived.Wait()
		close(release)
		done.Wait()
	}
	if n := conns.Load(); n != inFlight {
		t.Fatalf("two rounds of %d requests in flight to one host opened %d connections, want %d (kept between rounds)", inFlight, n, inFlight)
	}
}
