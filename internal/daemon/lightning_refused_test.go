package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store/storetest"
)

// An lnd that refuses vaspd's credentials at start stops vaspd naming the
// setting at fault: a macaroon lnd rejects is lnd-macaroon's, a server
// whose certificate is not the pinned one lnd-tls-cert's, not "cannot
// reach lnd" under lnd-rest-url (lnd was reached, and answered). The
// macaroon is never part of the error.
func TestLNDRefusingCredentialsNamesTheSetting(t *testing.T) {
	t.Parallel()
	macaroon := []byte{2, 1, 3, 's', 'e', 'c', 'r', 'e', 't'}
	for _, tc := range []struct {
		what   string
		status int
		body   any
	}{
		{"lnd's macaroon service", 500, map[string]any{"code": 2, "message": "verification failed: signature mismatch after caveat verification"}},
		{"a macaroon for another lnd", 500, map[string]any{"code": 2, "message": "cannot get macaroon: root key with id 0 doesn't exist"}},
		{"permission denied", 403, map[string]any{"code": 7, "message": "permission denied"}},
		{"unauthenticated", 401, map[string]any{"code": 16, "message": "expected 1 macaroon, got 0"}},
	} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			json.NewEncoder(w).Encode(tc.body)
		}))
		err := openLND(t, srv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), macaroon)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "setting lnd-macaroon") || strings.Contains(err.Error(), hex.EncodeToString(macaroon)) {
			t.Errorf("%s: %v; want an error naming lnd-macaroon, without the macaroon", tc.what, err)
		}
	}

	// A server whose certificate is not the one pinned.
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	other, err := os.ReadFile(pemCert(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	err = openLND(t, srv, other, macaroon)
	if err == nil || !strings.Contains(err.Error(), "setting lnd-tls-cert") {
		t.Errorf("a certificate other than the pinned one: %v; want an error naming lnd-tls-cert", err)
	}
}

// openLND starts the lnd backend on srv with this certificate and macaroon.
func openLND(t *testing.T, srv *httptest.Server, cert, macaroon []byte) error {
	t.Helper()
	dir := t.TempDir()
	certPath, macPath := filepath.Join(dir, "tls.cert"), filepath.Join(dir, "vaspd.macaroon")
	os.WriteFile(certPath, cert, 0o600)
	os.WriteFile(macPath, macaroon, 0o600)
	c := baseConfig()
	c.Lightning = LightningConfig{Backend: "lnd", Network: "regtest", LNDRESTURL: srv.URL, LNDTLSCert: certPath, LNDMacaroon: macPath, LNDMaxFeeMsat: 1}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	_, _, err := openLightning(context.Background(), storetest.SQLite(t), c.Lightning, slog.New(slog.DiscardHandler))
	return err
}
