package embedded

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/silentpeer"
)

// A devnet peer answering "101 Switching Protocols" and then saying
// nothing cannot hold a call to it past the client's timeout (package
// silentpeer says why it otherwise would; the non-200 path drained the
// body).
func TestDevnetPeerSwitchingProtocolsIsRefused(t *testing.T) {
	b, err := newPeerBook(nil, "secret", &http.Client{Timeout: 2 * time.Second}, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	url := silentpeer.SwitchingProtocols(t) + "/devnet/info"
	err = silentpeer.Await(t, "a call to a peer", func() error {
		var out map[string]any
		return b.call(t.Context(), http.MethodGet, url, nil, &out)
	})
	if err == nil {
		t.Fatal("a 101 answer was taken as a response")
	}
}
