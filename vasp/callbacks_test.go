package vasp_test

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// callbackSink is a counterparty's utxoCallback endpoint.
type callbackSink struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []*uma.PostTransactionCallback
	raw    [][]byte // the bodies of got
}

func newCallbackSink(t *testing.T) *callbackSink {
	c := &callbackSink{}
	c.status.Store(200)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cb, err := uma.ParsePostTransactionCallback(b)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		c.mu.Lock()
		c.got = append(c.got, cb)
		c.raw = append(c.raw, b)
		c.mu.Unlock()
		w.WriteHeader(int(c.status.Load()))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *callbackSink) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }

func completed(t *testing.T, w *world, s *vasp.Service, callback string, at time.Time) vasp.Transaction {
	t.Helper()
	var h [32]byte
	_, _ = rand.Read(h[:])
	tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusCompleted,
		UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain,
		Counterparty: "$alice@vasp1.example", PaymentHash: hex.EncodeToString(h[:]), Invoice: "lnbcrt1",
		Currency: "EUR", Amount: 1000, Msats: 1_000_000, CreatedAt: at, UpdatedAt: at, SettledAt: at}
	tr.Details.UtxoCallback = callback
	if err := s.InsertTransaction(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCallbacksAreDurable: a post-transaction callback the counterparty
// fails is retried on the webhooks' schedule until it succeeds, signed
// afresh each time; a callback never succeeding is given up after three
// days; a payment without a callback URL owes nothing.
func TestCallbacksAreDurable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		sink := newCallbackSink(t)
		sink.status.Store(503)
		ok := completed(t, w, s, sink.srv.URL+"/cb?txid=1", w.clock.Now())
		none := completed(t, w, s, "", w.clock.Now())
		if n, err := s.CallbackRound(t.Context()); n != 2 || err != nil {
			t.Fatalf("first round: %d %v", n, err)
		}
		if st, n, _ := s.CallbackState(t.Context(), none.ID); st != "none" || n != 0 {
			t.Fatalf("no URL: %s %d", st, n)
		}
		if st, n, _ := s.CallbackState(t.Context(), ok.ID); st != "pending" || n != 1 || sink.count() != 1 {
			t.Fatalf("after a 503: %s %d, %d received", st, n, sink.count())
		}
		// Not due before ~10 s.
		w.clock.Advance(8 * time.Second)
		if n, _ := s.CallbackRound(t.Context()); n != 0 {
			t.Fatalf("retried after 8 s")
		}
		sink.status.Store(200)
		w.clock.Advance(4 * time.Second)
		if n, _ := s.CallbackRound(t.Context()); n != 1 {
			t.Fatalf("not retried after 12 s")
		}
		if st, n, _ := s.CallbackState(t.Context(), ok.ID); st != "sent" || n != 2 {
			t.Fatalf("after success: %s %d", st, n)
		}
		sink.mu.Lock()
		first, second := sink.got[0], sink.got[1]
		sink.mu.Unlock()
		if first.SignatureNonce == second.SignatureNonce || second.VaspDomain != ourDomain {
			t.Fatalf("the retry was not signed afresh: %+v %+v", first, second)
		}
		ver := &uma.Verifier{Keys: uma.StaticKeys{ourDomain: {Signing: w.ours.Signing.PublicKey(), Encryption: w.ours.Encryption.PublicKey()}},
			Nonces: uma.NewMemoryNonceCache(w.clock.Now().Add(-time.Hour)), Now: w.clock.Now}
		if err := ver.VerifyPostTransactionCallback(t.Context(), second, ourDomain); err != nil {
			t.Fatalf("callback does not verify: %v", err)
		}
		if n, _ := s.CallbackRound(t.Context()); n != 0 {
			t.Fatalf("a sent callback was claimed again")
		}

		// Given up after the window.
		sink.status.Store(500)
		start := w.clock.Now()
		dead := completed(t, w, s, sink.srv.URL+"/cb?txid=2", start)
		for i := 0; i < 100; i++ {
			if st, _, _ := s.CallbackState(t.Context(), dead.ID); st != "pending" {
				break
			}
			if _, err := s.CallbackRound(t.Context()); err != nil {
				t.Fatal(err)
			}
			w.clock.Advance(2 * time.Hour) // past any delay (at most 1 h + 10 %)
		}
		st, n, _ := s.CallbackState(t.Context(), dead.ID)
		if gaveUp := w.clock.Now().Sub(start); st != "dead" || gaveUp < 70*time.Hour || gaveUp > 76*time.Hour || n < 30 {
			t.Fatalf("never-succeeding callback: %s after %d attempts and %s (want dead about 3 days after the payment)", st, n, gaveUp)
		}
	})
}

// TestCallbacksOncePerProcessGroup: processes sharing the database send
// each owed callback once.
func TestCallbacksOncePerProcessGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		a := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		b := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		sink := newCallbackSink(t)
		for i := 0; i < 40; i++ {
			completed(t, w, a, sink.srv.URL+"/cb", w.clock.Now())
		}
		var wg sync.WaitGroup
		for _, s := range []*vasp.Service{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := s.CallbackRound(t.Context())
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if sink.count() != 40 {
			t.Fatalf("%d callbacks received for 40 payments", sink.count())
		}
	})
}

// TestCallbackLateResultOfLostLease: a process whose callback attempt
// outlived its lease, so that another process claimed and sent the
// callback meanwhile, records nothing when its own attempt ends: its late
// failure must not make the sent callback owed again (and sent a third
// time).
func TestCallbackLateResultOfLostLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		a := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		b := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		arrived, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		sink := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if calls.Add(1) == 1 {
				close(arrived)
				<-release // process a's attempt hangs past its lease, then fails
				rw.WriteHeader(503)
				return
			}
			rw.WriteHeader(200)
		}))
		defer sink.Close()
		tr := completed(t, w, a, sink.URL+"/cb", w.clock.Now())

		done := make(chan error, 1)
		go func() { _, err := a.CallbackRound(t.Context()); done <- err }()
		<-arrived
		w.clock.Advance(31 * time.Second) // a's lease has run out
		if n, err := b.CallbackRound(t.Context()); n != 1 || err != nil {
			t.Fatalf("process b claimed %d callbacks (%v), want the one whose lease ended", n, err)
		}
		if st, _, _ := b.CallbackState(t.Context(), tr.ID); st != "sent" {
			t.Fatalf("after b's successful send: %s", st)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st, n, _ := a.CallbackState(t.Context(), tr.ID); st != "sent" || n != 1 {
			t.Fatalf("after a's late failure: %s after %d attempts, want sent after 1", st, n)
		}
		w.clock.Advance(time.Hour)
		if n, _ := a.CallbackRound(t.Context()); n != 0 || calls.Load() != 2 {
			t.Fatalf("a sent callback was claimed again (%d calls)", calls.Load())
		}
	})
}
