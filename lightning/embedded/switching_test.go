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
	done := make(chan error, 1)
	go func() {
		var out map[string]any
		done <- b.call(t.Context(), http.MethodGet, silentpeer.SwitchingProtocols(t)+"/devnet/info", nil, &out)
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a 101 answer was taken as a response")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a peer's 101 answer held the call past its 2 s timeout")
	}
}
