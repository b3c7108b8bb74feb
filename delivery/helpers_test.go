package delivery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a loopback webhook receiver whose answer a test sets.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		answer := rc.answer
		rc.mu.Unlock()
		if answer == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		answer(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) status(code int) {
	rc.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
}

func (rc *receiver) set(f func(w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// newTestService returns a Service on db with a fake clock and the loopback
// range allowed.
func newTestService(t *testing.T, db *store.DB, clock vaspd.Clock, mod ...func(*Options)) *Service {
	t.Helper()
	opt := Options{Clock: clock, AllowNets: []string{"127.0.0.0/8", "::1"}}
	for _, m := range mod {
		m(&opt)
	}
	s, err := New(db, opt)
	if err != nil {
		t.Fatal(err)
	}
	s.rnd = func() float64 { return 0.5 } // no jitter: exact schedules
	return s
}

// shortTimeouts lowers the floor of endpoint timeouts for tests that
// wait for an attempt to time out.
func shortTimeouts(o *Options) { o.MinAttemptTimeout = 50 * time.Millisecond }

func mustEndpoint(t *testing.T, s *Service, url string, mod ...func(*EndpointInput)) (Endpoint, string) {
	t.Helper()
	in := EndpointInput{URL: &url}
	for _, m := range mod {
		m(&in)
	}
	e, secret, err := s.CreateEndpoint(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return e, secret
}

func enqueue(t *testing.T, s *Service, ev Event) string {
	t.Helper()
	var id string
	err := s.db.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = s.Enqueue(context.Background(), tx, ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// step runs one claim, waits for its attempts and records them: one
// deterministic turn of the worker. It returns how many attempts were made.
func step(t *testing.T, s *Service) int {
	t.Helper()
	w := newWorker(s)
	n, _, err := w.claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	finish(t, w)
	return n
}

// finish waits for w's attempts and records their results.
func finish(t *testing.T, w *worker) int {
	t.Helper()
	w.wg.Wait()
	close(w.results)
	var batch []finished
	for f := range w.results {
		batch = append(batch, f)
	}
	if len(batch) > 0 {
		if err := w.record(batch); err != nil {
			t.Fatal(err)
		}
	}
	return len(batch)
}

// onlyDelivery returns the single delivery of webhookID.
func onlyDelivery(t *testing.T, s *Service, webhookID string) Delivery {
	t.Helper()
	ds, err := s.ListDeliveries(context.Background(), DeliveryFilter{WebhookID: webhookID}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d deliveries for %s, want 1", len(ds), webhookID)
	}
	d, err := s.GetDelivery(context.Background(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// attemptOne claims the one due delivery and makes its attempt, without
// recording the result: the test records batch with w.record when it has
// set the scene (an endpoint moved, disabled or deleted meanwhile).
func attemptOne(t *testing.T, s *Service) (w *worker, batch []finished) {
	t.Helper()
	w = newWorker(s)
	if n, _, err := w.claim(context.Background()); err != nil || n != 1 {
		t.Fatalf("claim: %d %v", n, err)
	}
	w.wg.Wait()
	close(w.results)
	for f := range w.results {
		batch = append(batch, f)
	}
	return w, batch
}
