package uma_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/silentpeer"
	"github.com/vaspd/vaspd/uma"
)

// A domain whose lnurlpubkey answers "101 Switching Protocols" and then
// says nothing cannot hold a key fetch past the client's timeout (package
// silentpeer says why it otherwise would): it is a fetch error.
func TestKeyFetchSwitchingProtocolsIsRefused(t *testing.T) {
	domain := strings.TrimPrefix(silentpeer.SwitchingProtocols(t), "http://")
	f := &uma.KeyFetcher{Client: &http.Client{Timeout: 2 * time.Second}}
	err := silentpeer.Await(t, "the key fetch", func() error {
		_, err := f.PublicKeys(t.Context(), domain)
		return err
	})
	var ue *uma.Error
	if !errors.As(err, &ue) || ue.Code != uma.CodeCounterpartyPubkeyFetchError {
		t.Fatalf("got %v, want a %s error", err, uma.CodeCounterpartyPubkeyFetchError)
	}
}
