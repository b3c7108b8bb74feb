package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// lnd-rest-url is lnd's REST listener, to which vaspd appends /v1/… paths
// and sends the macaroon: a user or password in it would be sent to lnd
// as Basic credentials lnd ignores (and shown wherever the URL is), and a
// query or fragment would end up after every path vaspd appends. Refused,
// naming the setting, never echoing the password; a path prefix (lnd
// behind a proxy) is kept.
func TestLNDRestURLIsOnlyAnOrigin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mac := filepath.Join(dir, "vaspd.macaroon")
	if err := os.WriteFile(mac, []byte{2, 1, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	lnd := func(u string) Config {
		c := baseConfig()
		c.Lightning = LightningConfig{Backend: "lnd", LNDRESTURL: u, LNDTLSCert: pemCert(t, dir), LNDMacaroon: mac, LNDMaxFeeMsat: 1}
		return c
	}
	for _, u := range []string{
		"https://vaspd:s3cret@127.0.0.1:8080",
		"https://u:1/s3cret@127.0.0.1:8080",
		"https://vaspd@127.0.0.1:8080",
		"https://127.0.0.1:8080/?macaroon=s3cret",
		"https://127.0.0.1:8080/#s3cret",
	} {
		resolveErr(t, lnd(u), "setting lnd-rest-url", "s3cret")
	}
	for _, u := range []string{"https://127.0.0.1:8080", "https://127.0.0.1:8080/", "https://proxy.internal/lnd"} {
		c := lnd(u)
		if err := c.Resolve(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
