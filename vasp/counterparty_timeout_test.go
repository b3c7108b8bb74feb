package vasp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver that does not answer within Options.CounterpartyTimeout (its
// keys, its payreq, or the rest of an answer begun) fails the step with
// its 424, saying how long we waited, with details.timedOut; a quote cut
// short stores nothing. The receiver is a real loopback server that holds
// each call until the caller gives up.
func TestCounterpartyTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		// Keys fetched over HTTP, from the receiver itself, through the
		// Service's default client.
		tune := func(o *vasp.Options) {
			o.Clock, o.KeySource, o.CounterpartyTimeout = vaspd.SystemClock{}, nil, time.Second
		}
		h.s = h.w.service(t, tune)
		// The server's handlers read h.pubkey and h.payreq, and a handler
		// of an earlier step may still run (held until its connection
		// closes) when the next step changes them: set both once, to
		// functions that call what the step set, under a lock.
		var mu sync.Mutex
		var pubkey http.HandlerFunc
		var payreq func(http.ResponseWriter, *uma.PayRequest)
		setPubkey := func(f http.HandlerFunc) { mu.Lock(); defer mu.Unlock(); pubkey = f }
		setPayreq := func(f func(http.ResponseWriter, *uma.PayRequest)) { mu.Lock(); defer mu.Unlock(); payreq = f }
		setPayreq(h.payreq)
		h.pubkey = func(rw http.ResponseWriter, r *http.Request) { mu.Lock(); f := pubkey; mu.Unlock(); f(rw, r) }
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) { mu.Lock(); f := payreq; mu.Unlock(); f(rw, pr) }
		hang := func(rw http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		serveKeys := func(rw http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(rw).Encode(h.keys.PubKeyResponse(time.Now().Add(time.Hour)))
		}
		timedOut := func(t *testing.T, what string, err error, code, says string, took time.Duration) {
			t.Helper()
			e := vaspd.AsError(err)
			if err == nil || e.Status != 424 || e.Code != code || !strings.Contains(e.Message, says) ||
				e.Details["timedOut"] != true || e.Details["unreachable"] != true {
				t.Fatalf("%s: %v (%d %s %v), want 424 %s saying %q with timedOut", what, err, e.Status, e.Code, e.Details, code, says)
			}
			if took > 10*time.Second {
				t.Fatalf("%s took %s, with a 1s counterparty timeout", what, took)
			}
		}

		setPubkey(hang)
		start := time.Now()
		_, err := h.s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
		timedOut(t, "lookup, keys never served", err, vaspd.CodeCounterpartyPubkeyFetch, "did not serve its public keys within 1s", time.Since(start))

		setPubkey(serveKeys)
		h.fund(t, 100_000)
		l := h.lookup(t)
		// Another process (its own key cache) quoting the lookup.
		setPubkey(hang)
		start = time.Now()
		_, err = h.w.service(t, tune).CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD",
			ReceivingCurrency: "EUR", LockedSide: vasp.LockedSending, Amount: 1000})
		timedOut(t, "quote, keys never served", err, vaspd.CodeCounterpartyPubkeyFetch, "did not serve its public keys within 1s", time.Since(start))

		setPayreq(func(rw http.ResponseWriter, _ *uma.PayRequest) { time.Sleep(3 * time.Second) })
		start = time.Now()
		_, err = h.quote(t, l, vasp.LockedSending, 1000)
		timedOut(t, "quote, payreq never answered", err, vaspd.CodePayreqRequestFailed, "did not answer within 1s", time.Since(start))

		setPayreq(func(rw http.ResponseWriter, _ *uma.PayRequest) {
			rw.WriteHeader(http.StatusOK)
			_, _ = rw.Write([]byte(`{"pr":`))
			rw.(http.Flusher).Flush()
			time.Sleep(3 * time.Second)
		})
		start = time.Now()
		_, err = h.quote(t, l, vasp.LockedSending, 1000)
		timedOut(t, "quote, payreq answer begun", err, vaspd.CodePayreqRequestFailed, "did not send its whole answer within 1s", time.Since(start))
		if e := vaspd.AsError(err); e.Details["httpStatus"] != http.StatusOK {
			t.Fatalf("details %v, want httpStatus 200", e.Details)
		}

		var quotes int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&quotes); err != nil || quotes != 0 {
			t.Fatalf("%d quotes stored (%v), want none", quotes, err)
		}
	})
}
