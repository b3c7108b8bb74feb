package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store/storetest"
)

// vaspd does not start on an lnd node other than the one its payments in
// flight were sent from: the resolver would look them up on the new node,
// which knows none of them, and send them again from it, while the old
// node may still complete them (a payment made twice, or one made and
// booked failed, the money given back). Payments of the other node that
// have ended do not hold the start up, nor do the node's own in flight.
func TestLNDOtherThanTheOnePaymentsAreInFlightOnIsRefused(t *testing.T) {
	t.Parallel()
	self := "02" + strings.Repeat("ab", 32)
	other := "03" + strings.Repeat("cd", 32)
	url, cert, mac := fakeLNDInfo(t, self, "regtest")
	c := baseConfig()
	c.Lightning = LightningConfig{Backend: "lnd", Network: "regtest", LNDRESTURL: url, LNDTLSCert: cert, LNDMacaroon: mac, LNDMaxFeeMsat: 1}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	db := storetest.SQLite(t)
	record := func(node, hash, status string) {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), `INSERT INTO lnd_payments (node_pubkey, payment_hash, payment_request, destination,
			amount_msat, max_fee_msat, fee_msat, status, preimage, failure_reason, attempts, created_at, attempted_at)
			VALUES ($1, $2, 'lnbcrt1', $3, 1000, 10, 0, $4, '', '', 1, 1, 1)`, node, hash, self, status); err != nil {
			t.Fatal(err)
		}
	}
	open := func() error {
		_, _, err := openLightning(context.Background(), db, c.Lightning, slog.New(slog.DiscardHandler))
		return err
	}
	record(other, strings.Repeat("11", 32), "SUCCEEDED")
	record(other, strings.Repeat("22", 32), "FAILED")
	record(self, strings.Repeat("33", 32), "IN_FLIGHT")
	if err := open(); err != nil {
		t.Fatalf("ended payments of another node, and this node's own in flight: %v", err)
	}
	record(other, strings.Repeat("44", 32), "IN_FLIGHT")
	err := open()
	if err == nil || !strings.Contains(err.Error(), "setting lnd-rest-url") || !strings.Contains(err.Error(), other) ||
		!strings.Contains(err.Error(), self) || !strings.Contains(err.Error(), "1 payment") {
		t.Fatalf("a payment in flight on %s, lnd now %s: %v; want a refusal naming lnd-rest-url, both nodes and the count", other, self, err)
	}
	if _, err := db.ExecContext(t.Context(), `UPDATE lnd_payments SET status = 'SUCCEEDED' WHERE node_pubkey = $1`, other); err != nil {
		t.Fatal(err)
	}
	if err := open(); err != nil {
		t.Fatalf("once the other node's payments ended: %v", err)
	}
}
