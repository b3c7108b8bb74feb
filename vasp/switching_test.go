package vasp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/silentpeer"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A counterparty answering "101 Switching Protocols" and then saying
// nothing cannot hold a lookup, payreq or callback past the client's
// timeout (package silentpeer says why it otherwise would).
func TestCounterpartySwitchingProtocolsIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.HTTPClient = &http.Client{Timeout: 2 * time.Second} })
		url := silentpeer.SwitchingProtocols(t) + "/.well-known/lnurlp/bob"
		err := silentpeer.Await(t, "a call to a counterparty", func() error {
			_, _, err := s.Fetch(t.Context(), http.MethodGet, url)
			return err
		})
		if err == nil {
			t.Fatal("a 101 answer was taken as a response")
		}
	})
}
