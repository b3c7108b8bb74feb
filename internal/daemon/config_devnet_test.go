package daemon

import "testing"

// A devnet peer is another vaspd's base URL, to which the devnet's paths
// are appended (PEER/devnet/…): a query or fragment would swallow them, so
// that every payment to the peer went to its base page, and a query's
// token would be printed by vaspd config show and the start-up log.
// Refused at start, as base-url's are, never echoing the URL.
func TestDevnetPeerIsABaseURL(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"http://127.0.0.1:9/?token=s3cret", "http://127.0.0.1:9/#s3cret", "http://127.0.0.1:9?",
		"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798@http://127.0.0.1:9/?s3cret"} {
		c := baseConfig()
		c.Lightning = LightningConfig{DevnetSecret: "x", DevnetPeers: p}
		resolveErr(t, c, "setting devnet-peers", "s3cret")
	}
	c := baseConfig()
	c.Lightning = LightningConfig{DevnetSecret: "x", DevnetPeers: "http://127.0.0.1:9/vaspd/"}
	if err := c.Resolve(); err != nil {
		t.Error(err)
	}
}
