package vasp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver at a loopback or private address that counterparty-allow-nets
// does not open is never called: the lookup says so and names the setting,
// rather than that the receiver "could not be reached", which sent
// operators looking for a server that was up all along.
func TestLookupRefusedAddressNamesTheSetting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		g, err := ssrf.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		s := h.w.service(t, func(o *vasp.Options) {
			o.Clock = vaspd.SystemClock{}
			o.HTTPClient = &http.Client{Transport: ssrf.NewTransport(g, 5*time.Second)}
		})
		_, err = s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
		e := vaspd.AsError(err)
		if e.Status != http.StatusFailedDependency || e.Code != vaspd.CodeLnurlpRequestFailed ||
			!strings.Contains(e.Message, "counterparty-allow-nets") || strings.Contains(e.Message, "could not be reached") {
			t.Fatalf("got %v (%d %s %q), want 424 LNURLP_REQUEST_FAILED naming counterparty-allow-nets", err, e.Status, e.Code, e.Message)
		}
	})
}
