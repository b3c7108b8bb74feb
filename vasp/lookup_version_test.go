package vasp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// TestLookupRefusesUMAv0Receiver: vaspd pays only UMA 1.x receivers (its
// payreq is the v1 shape, and a v0 answer is unsigned, its payee
// unverifiable). A receiver answering the lookup with umaVersion 0.3 used
// to pass it, and every quote on it then failed 424 with a message about
// its payreq answer; the lookup now refuses it at once, 424
// NO_COMPATIBLE_UMA_VERSION, saying so.
func TestLookupRefusesUMAv0Receiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.lnurlp = func(r *uma.LnurlpResponse) { r.UmaVersion = "0.3" }
		_, err := h.s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
		wantStatus(t, err, http.StatusFailedDependency, vaspd.CodeNoCompatibleUMAVersion)
		if m := vaspd.AsError(err).Message; !strings.Contains(m, "0.3") {
			t.Fatalf("message %q does not name the receiver's version", m)
		}
	})
}

// TestLookupV0Only412: a receiver refusing our 1.0 with 412 and
// supportedMajorVersions [0] is not asked again at 0.3 (a lookup we would
// then refuse): 424 NO_COMPATIBLE_UMA_VERSION after one call.
func TestLookupV0Only412(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			rw.WriteHeader(http.StatusPreconditionFailed)
			_, _ = rw.Write([]byte(`{"status":"ERROR","reason":"v0 only","code":"UNSUPPORTED_UMA_VERSION","supportedMajorVersions":[0]}`))
		}))
		t.Cleanup(srv.Close)
		s := w.service(t, nil)
		_, err := s.LookupReceiver(t.Context(), w.alice.UserID, "$bob@localhost:"+strings.TrimPrefix(srv.URL, "http://127.0.0.1:"))
		wantStatus(t, err, http.StatusFailedDependency, vaspd.CodeNoCompatibleUMAVersion)
		if n := calls.Load(); n != 1 {
			t.Fatalf("%d lnurlp calls, want 1", n)
		}
	})
}
