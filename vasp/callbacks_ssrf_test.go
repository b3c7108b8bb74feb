package vasp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestCallbackNonPublicRefused: a utxoCallback at a loopback or private
// address that counterparty-allow-nets does not open is refused by our
// SSRF guard at every attempt: the URL does not change, nor does the
// guard's verdict. It used to be retried on the webhooks' schedule for 3
// days (some 80 attempts); it is refused at once now, as a receiver's
// permanent refusal is, the reason naming the setting.
func TestCallbackNonPublicRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		g, err := ssrf.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) {
			o.HTTPClient = &http.Client{Transport: ssrf.NewTransport(g, 5*time.Second), Timeout: 5 * time.Second}
		})
		sink := newStatusSink(t) // at 127.0.0.1: refused by the guard
		tr := completed(t, w, s, sink.srv.URL+"/ok", w.clock.Now())
		allRounds(t, s)
		st, n, _ := s.CallbackState(t.Context(), tr.ID)
		why, _ := s.CallbackError(t.Context(), tr.ID)
		if st != "refused" || n != 1 || !strings.Contains(why, "counterparty-allow-nets") {
			t.Fatalf("callback to a loopback address: %s after %d attempts (%q), want refused after 1 naming counterparty-allow-nets", st, n, why)
		}
		w.clock.Advance(2 * time.Hour)
		if n := allRounds(t, s); n != 0 || sink.count("/ok") != 0 {
			t.Fatalf("a refused callback was tried again (%d) or reached the loopback sink (%d)", n, sink.count("/ok"))
		}
	})
}
