package vasp_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// The embedded node pays the sandbox's invoices: Services on it have the
// sandbox on, and their counterparties' keys found through its key source.
var _ vasp.SandboxPayer = (*embedded.Node)(nil)

// A counterparty that rotated its signing key has its UMA requests taken
// at once, signed with the new key, on a Service with the sandbox on (the
// sandbox's key source in front of the fetcher): the failing signature
// has its keys fetched anew, once. They were refused 401
// INVALID_SIGNATURE until the cached keys expired (up to 24 h): invoices
// were verified with the cached keys alone, and the sandbox's key source
// did not pass the refresh on to the fetcher.
func TestUmaRequestFromRotatedKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		var mu sync.Mutex
		var fetches atomic.Int32
		h.pubkey = func(rw http.ResponseWriter, _ *http.Request) {
			fetches.Add(1)
			mu.Lock()
			k := h.keys
			mu.Unlock()
			_ = json.NewEncoder(rw).Encode(k.PubKeyResponse(time.Now().Add(365 * 24 * time.Hour)))
		}
		// Keys fetched over HTTP, from the counterparty itself; the
		// world's clock.
		var hosts sync.Map // the hosts requested
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			hosts.Store(r.URL.Host, true)
			return http.DefaultTransport.RoundTrip(r)
		})}
		h.s = h.w.service(t, func(o *vasp.Options) { o.KeySource, o.HTTPClient = nil, client })
		h.umaRequest(t, nil)
		rotated := newKeys(t, h.domain)
		mu.Lock()
		h.keys = rotated
		mu.Unlock()
		h.w.clock.Advance(2 * time.Minute) // past uma.KeyRefreshEvery
		h.umaRequest(t, nil)               // signed with h.keys: the rotated ones
		h.umaRequest(t, nil)               // again, the new keys cached
		if n := fetches.Load(); n != 2 {
			t.Fatalf("%d key fetches, want 2 (the first, the refresh)", n)
		}
		// The sandbox sender's keys are in memory and never change: a
		// payreq signed as it with another key is refused, and has no
		// keys fetched from the sandbox's domain.
		_, err := h.s.PayRequest(t.Context(), "bob", payRequest(t, rotated.Signing, "$success@"+vasp.SandboxDomain, h.w.clock.Now()))
		wantCode(t, err, uma.CodeInvalidSignature)
		hosts.Range(func(host, _ any) bool {
			if host != h.domain {
				t.Errorf("requested %s", host)
			}
			return true
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
