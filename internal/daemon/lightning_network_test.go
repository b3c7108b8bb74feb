package daemon

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store/storetest"
)

// lightning-network is the network vaspd runs on, with either backend:
// the embedded node refuses mainnet; lnd may be on mainnet, but only when
// vaspd is configured for it. A network no backend knows is refused,
// naming the setting.
func TestLightningNetworkSetting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mac := filepath.Join(dir, "vaspd.macaroon")
	os.WriteFile(mac, []byte{2, 1, 3}, 0o600)
	lnd := func(network string) Config {
		c := baseConfig()
		c.Lightning = LightningConfig{Backend: "lnd", Network: network, LNDRESTURL: "https://127.0.0.1:10009",
			LNDTLSCert: pemCert(t, dir), LNDMacaroon: mac, LNDMaxFeeMsat: 1}
		return c
	}
	for _, network := range []string{"mainnet", "testnet", "signet", "regtest", "simnet"} {
		if c := lnd(network); c.Resolve() != nil {
			t.Errorf("lnd on %s: %v", network, c.Resolve())
		}
	}
	resolveErr(t, lnd("testnet4"), "setting lightning-network", "")
	resolveErr(t, lnd("bitcoin"), "setting lightning-network", "")
	embedded := baseConfig()
	embedded.Lightning = LightningConfig{Backend: "embedded", Network: "mainnet"}
	resolveErr(t, embedded, "setting lightning-network", "")
}

// An lnd on another network than lightning-network stops vaspd at start,
// naming the setting and both networks: a regtest vaspd (the default) is
// not run on a mainnet node, nor a mainnet vaspd on a test node.
func TestLNDOnAnotherNetworkIsRefusedAtStart(t *testing.T) {
	t.Parallel()
	url, cert, mac := fakeLNDInfo(t, "02"+strings.Repeat("ab", 32), "mainnet")
	open := func(network string) error {
		c := baseConfig()
		c.Lightning = LightningConfig{Backend: "lnd", Network: network, LNDRESTURL: url, LNDTLSCert: cert, LNDMacaroon: mac, LNDMaxFeeMsat: 1}
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		_, _, err := openLightning(context.Background(), storetest.SQLite(t), c.Lightning, slog.New(slog.DiscardHandler))
		return err
	}
	err := open("regtest")
	if err == nil || !strings.Contains(err.Error(), "setting lightning-network") ||
		!strings.Contains(err.Error(), "mainnet") || !strings.Contains(err.Error(), "regtest") {
		t.Fatalf("a mainnet lnd for a regtest vaspd: %v; want a refusal naming lightning-network, mainnet and regtest", err)
	}
	if err := open("mainnet"); err != nil {
		t.Fatalf("a mainnet lnd for a mainnet vaspd: %v", err)
	}
}

// fakeLNDInfo serves lnd's GET /v1/getinfo over TLS, as node pubkey on
// network, and returns its URL and the certificate and macaroon files the
// lnd settings name.
func fakeLNDInfo(t *testing.T, pubkey, network string) (url, cert, mac string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/getinfo" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"identity_pubkey": pubkey, "alias": "fake",
			"chains": []any{map[string]any{"chain": "bitcoin", "network": network}}})
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cert, mac = filepath.Join(dir, "tls.cert"), filepath.Join(dir, "vaspd.macaroon")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(mac, []byte{2, 1, 3}, 0o600)
	return srv.URL, cert, mac
}
